"""Queued mail only ever leaves through its own account's providers (issue 9, defect 1)."""

import pytest

from mail.models import Message
from mail.queue import queue_drain
from providers.models import SmtpProvider
from tests.factories import SmtpProviderFactory

pytestmark = pytest.mark.django_db


def test_items_whose_provider_was_deleted_go_through_their_own_account_s_default(
    alice, bob, smtp_server_factory, enqueue
):
    old_server, alice_server, bob_server = (smtp_server_factory() for _ in range(3))
    alice_old = SmtpProviderFactory(account=alice, host=old_server.host, port=old_server.port)
    bob_old = SmtpProviderFactory(account=bob, host=old_server.host, port=old_server.port)
    alice_mail = enqueue(provider=alice_old, count=3)
    bob_mail = enqueue(provider=bob_old, count=3)
    SmtpProvider.objects.filter(pk__in=[alice_old.pk, bob_old.pk]).delete()
    alice_new = SmtpProviderFactory(account=alice, host=alice_server.host, port=alice_server.port)
    bob_new = SmtpProviderFactory(account=bob, host=bob_server.host, port=bob_server.port)

    assert queue_drain().sent == 6

    assert sorted(m.message_id for m in alice_server.messages) == sorted(
        m.message_id for m in alice_mail
    )
    assert sorted(m.message_id for m in bob_server.messages) == sorted(
        m.message_id for m in bob_mail
    )
    assert old_server.messages == []
    # The rows record the provider that really sent them.
    for message, provider in [(m, alice_new) for m in alice_mail] + [
        (m, bob_new) for m in bob_mail
    ]:
        message.refresh_from_db()
        assert message.status == "sent"
        assert message.provider_id == provider.pk
        assert message.queue_item.provider_id == provider.pk


def test_the_fallback_provider_s_send_limit_counts_the_mail_it_sends(alice, smtp_server, enqueue):
    gone = SmtpProviderFactory(account=alice, host=smtp_server.host, port=smtp_server.port)
    enqueue(provider=gone, count=5)
    gone.delete()
    fallback = SmtpProviderFactory(
        account=alice, host=smtp_server.host, port=smtp_server.port, hourly_limit=3
    )

    result = queue_drain()

    assert (result.sent, result.deferred) == (3, 2)
    assert Message.objects.filter(provider=fallback, limit_counted_at__isnull=False).count() == 3
    assert len(smtp_server.messages) == 3


def test_another_account_s_provider_is_never_used(alice, bob, smtp_server_factory, enqueue):
    alice_server, bob_server = smtp_server_factory(), smtp_server_factory()
    alice_provider = SmtpProviderFactory(
        account=alice, host=alice_server.host, port=alice_server.port
    )
    SmtpProviderFactory(account=bob, host=bob_server.host, port=bob_server.port)
    [message] = enqueue(provider=alice_provider)
    alice_provider.delete()  # alice has no provider left

    result = queue_drain()

    assert (result.sent, result.deferred) == (0, 1)
    assert alice_server.messages == bob_server.messages == []
    message.refresh_from_db()
    assert message.status == "queued"
    assert "no active default SMTP provider" in message.queue_item.last_error
