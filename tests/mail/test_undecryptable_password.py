"""A stored SMTP password that no longer decrypts (MAILPASS_ENCRYPTION_KEY changed).

It is a configuration problem, not a crash: a single send answers SEND_FAILED naming it, the
queue defers its items (they go out once the key is fixed), the admin checks report it.
"""

import pytest

from mail.models import Message
from mail.queue import queue_drain
from providers.models import SmtpProvider
from providers.services import provider_send_test_email, provider_test_connection

UNREADABLE = "gAAAAABnot-a-token-made-with-this-key"


@pytest.fixture
def unreadable_provider(alice_provider):
    SmtpProvider.objects.filter(pk=alice_provider.pk).update(
        username="u1", password_encrypted=UNREADABLE
    )
    alice_provider.refresh_from_db()
    return alice_provider


@pytest.mark.django_db
def test_a_single_send_fails_with_send_failed_naming_the_key(
    alice_client, unreadable_provider, smtp_server
):
    response = alice_client.post(
        "/api/v1/mail/send",
        {"to": "user@example.com", "subject": "Hi", "text": "Hi"},
        format="json",
    )

    assert response.status_code == 500
    error = response.json()["error"]
    assert error["code"] == "SEND_FAILED"
    assert "MAILPASS_ENCRYPTION_KEY" in error["message"]
    message = Message.objects.get(message_id=error["details"]["message_id"])
    assert message.status == "failed"
    assert "MAILPASS_ENCRYPTION_KEY" in message.error_message
    assert smtp_server.messages == []


@pytest.mark.django_db
def test_queued_messages_wait_instead_of_crashing_the_drain(
    unreadable_provider, smtp_server, enqueue
):
    [message] = enqueue(provider=unreadable_provider)

    result = queue_drain()

    assert (result.sent, result.deferred, result.failed) == (0, 1, 0)
    message.refresh_from_db()
    assert message.status == "queued"
    assert "MAILPASS_ENCRYPTION_KEY" in message.queue_item.last_error
    assert smtp_server.messages == []


@pytest.mark.django_db
def test_the_admin_checks_report_it(unreadable_provider):
    for check in (
        provider_test_connection(provider=unreadable_provider),
        provider_send_test_email(provider=unreadable_provider, to_email="ops@example.com"),
    ):
        assert not check.ok
        assert "MAILPASS_ENCRYPTION_KEY" in check.error
