"""A provider that cannot be connected to defers its mail; it never fails it (issue 9, defect 2).

A 535 at AUTH (a wrong password), a refusing greeting: the provider's problem. Its items wait,
after one login attempt per run (not one per message), with the reason in the event; once
the provider is fixed, they go out.
"""

import contextlib
import smtplib
import socket
import threading

import pytest
from django.utils import timezone

from mail.models import MessageEvent, QueueItem
from mail.queue import queue_drain
from providers.models import SmtpProvider
from tests.factories import SmtpProviderFactory

pytestmark = pytest.mark.django_db


def _make_due() -> None:
    QueueItem.objects.update(next_attempt_at=timezone.now())


def test_a_wrong_password_defers_every_item_after_one_login_and_they_go_after_the_fix(
    alice, smtp_server_factory, enqueue
):
    server = smtp_server_factory(auth_users={"app": "right"}, auth_required=True)
    provider = SmtpProviderFactory(
        account=alice, host=server.host, port=server.port, username="app", password="wrong"
    )
    messages = enqueue(provider=provider, count=4)
    # One login tries each mechanism the server offers: count what one login costs.
    with (
        smtplib.SMTP(server.host, server.port) as probe,
        contextlib.suppress(smtplib.SMTPException),
    ):
        probe.login("app", "wrong")
    one_login, server.auth_attempts = server.auth_attempts, 0

    result = queue_drain()

    assert (result.sent, result.deferred, result.failed) == (0, 4, 0)
    assert server.auth_attempts == one_login
    for message in messages:
        message.refresh_from_db()
        assert message.status == "queued"
        [deferred] = MessageEvent.objects.filter(message=message, event_type="deferred")
        assert "535" in deferred.detail
        assert "could not connect to SMTP provider" in deferred.detail

    provider = SmtpProvider.objects.get(pk=provider.pk)
    provider.password = "right"
    provider.save()
    _make_due()
    fixed = queue_drain()

    assert (fixed.sent, fixed.deferred, fixed.failed) == (4, 0, 0)
    assert sorted(m.message_id for m in server.messages) == sorted(m.message_id for m in messages)


@pytest.fixture
def refusing_server():
    """A server that answers every connection with a 554 greeting and hangs up."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    connections = []

    def serve() -> None:
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            connections.append(1)
            conn.sendall(b"554 5.3.2 No SMTP service here\r\n")
            conn.close()

    threading.Thread(target=serve, daemon=True).start()
    yield listener.getsockname()[1], connections
    listener.close()


def test_a_refusing_greeting_defers_every_item_after_one_connection(
    alice, refusing_server, enqueue
):
    port, connections = refusing_server
    provider = SmtpProviderFactory(account=alice, host="127.0.0.1", port=port)
    messages = enqueue(provider=provider, count=3)

    result = queue_drain()

    assert (result.sent, result.deferred, result.failed) == (0, 3, 0)
    assert len(connections) == 1
    for message in messages:
        message.refresh_from_db()
        assert message.status == "queued"
        assert "554" in message.queue_item.last_error


def test_a_message_level_5xx_still_fails_the_message(alice_provider, smtp_server, enqueue):
    smtp_server.behaviour.rcpt_replies = {"user0@example.com": "550 5.1.1 No such user"}
    [refused, accepted] = enqueue(provider=alice_provider, count=2)

    result = queue_drain()

    assert (result.sent, result.failed) == (1, 1)
    refused.refresh_from_db()
    assert refused.status == "failed" and "550 5.1.1" in refused.error_message
