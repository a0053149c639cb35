"""Queued and scheduled messages whose `to` is suppressed by the time a worker takes them end
`suppressed` (event `suppressed`) and are not sent; the check is one query per claimed chunk.
RCPT refusals of queued mail suppress like those of /send. Real aiosmtpd server."""

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from mail.models import EventType, Message, MessageStatus, QueueItem, QueueItemStatus
from mail.queue import queue_drain, queue_enqueue
from suppressions.models import Suppression
from suppressions.services import suppression_add
from tests.factories import MessageFactory, SmtpProviderFactory

pytestmark = pytest.mark.django_db


def queue(provider, to, **fields):
    message = MessageFactory.build(account=provider.account, to_email=to, **fields)
    queue_enqueue(messages=[message], provider=provider)
    return message


def test_a_queued_message_suppressed_since_ends_suppressed_and_is_not_sent(
    alice_provider, alice, smtp_server, no_kick
):
    gone = queue(alice_provider, "gone@example.com")
    kept = queue(alice_provider, "user@example.com")
    suppression_add(account=alice, email="GONE@example.com", reason="complaint")

    result = queue_drain()

    assert (result.sent, result.suppressed) == (1, 1)
    gone.refresh_from_db()
    assert gone.status == MessageStatus.SUPPRESSED
    assert gone.queue_item.status == QueueItemStatus.SUPPRESSED
    assert gone.limit_counted_at is None
    event = gone.events.get(event_type=EventType.SUPPRESSED)
    assert "gone@example.com" in event.detail and "complaint" in event.detail
    assert [m.message_id for m in smtp_server.messages] == [kept.message_id]
    # Final: a later drain does not pick it up again.
    assert queue_drain().total == 0


def test_a_scheduled_message_whose_to_is_suppressed_when_due_ends_suppressed(
    alice_provider, alice, smtp_server, no_kick
):
    message = queue(alice_provider, "gone@example.com", send_at=timezone.now() + timedelta(hours=1))
    suppression_add(account=alice, email="gone@example.com", reason="unsubscribe")
    QueueItem.objects.filter(message=message).update(next_attempt_at=timezone.now())

    queue_drain()

    message.refresh_from_db()
    assert message.status == MessageStatus.SUPPRESSED
    assert smtp_server.messages == []


def test_cc_suppressed_since_it_was_queued_are_dropped(alice_provider, alice, smtp_server, no_kick):
    message = queue(
        alice_provider, "user@example.com", cc=["cc-gone@example.com", "cc@example.com"]
    )
    suppression_add(account=alice, email="cc-gone@example.com", reason="hard_bounce")

    queue_drain()

    (received,) = smtp_server.messages
    assert sorted(received.rcpt_tos) == ["cc@example.com", "user@example.com"]
    message.refresh_from_db()
    assert (message.status, message.cc, message.suppressed) == (
        "sent",
        ["cc@example.com"],
        ["cc-gone@example.com"],
    )


def test_each_message_is_checked_against_its_own_accounts_list(
    alice_provider, bob, smtp_server, no_kick
):
    bob_provider = SmtpProviderFactory(account=bob, host=smtp_server.host, port=smtp_server.port)
    suppression_add(account=bob, email="user@example.com", reason="manual")
    alices = queue(alice_provider, "user@example.com")
    bobs = queue(bob_provider, "user@example.com")

    queue_drain()

    assert Message.objects.get(pk=alices.pk).status == MessageStatus.SENT
    assert Message.objects.get(pk=bobs.pk).status == MessageStatus.SUPPRESSED


def test_the_check_is_one_query_per_claimed_group(
    alice_provider, alice, smtp_server, no_kick, settings
):
    settings.MAILPASS_QUEUE_BATCH_SIZE = 100
    for n in range(30):
        suppression_add(account=alice, email=f"x{n}@example.com", reason="manual")
    messages = [
        MessageFactory.build(account=alice, to_email=f"u{n}@example.com") for n in range(40)
    ]
    queue_enqueue(messages=messages, provider=alice_provider)
    with CaptureQueriesContext(connection) as queries:
        assert queue_drain().sent == 40
    lookups = [q for q in queries.captured_queries if "suppressions_suppression" in q["sql"]]
    assert len(lookups) == 1


def test_a_5_1_x_refusal_of_a_queued_recipient_suppresses_it_only(
    alice_provider, alice, smtp_server, no_kick
):
    smtp_server.behaviour.rcpt_replies["gone@example.com"] = "550 5.1.1 No such user"
    message = queue(alice_provider, "user@example.com", cc=["gone@example.com", "ok@example.com"])
    everyone_refused = queue(alice_provider, "gone2@example.com")
    smtp_server.behaviour.rcpt_replies["gone2@example.com"] = "550 5.1.1 No such user"

    queue_drain()

    message.refresh_from_db()
    assert message.status == MessageStatus.SENT
    assert sorted(Suppression.objects.values_list("email", flat=True)) == [
        "gone2@example.com",
        "gone@example.com",
    ]
    assert Suppression.objects.get(email="gone@example.com").message_id == message.pk
    bounced = message.events.get(event_type=EventType.BOUNCED)
    assert (bounced.recipient, bounced.detail) == ("gone@example.com", "550 5.1.1 No such user")
    everyone_refused.refresh_from_db()
    assert everyone_refused.status == MessageStatus.FAILED


def test_a_queued_message_of_a_test_key_never_adds_to_the_list(
    alice_provider, alice, smtp_server, no_kick
):
    queue(alice_provider, "gone@example.com", is_test=True)
    queue_drain()
    assert not Suppression.objects.exists()


def test_a_queued_test_key_message_to_a_suppressed_address_ends_suppressed(
    alice_provider, alice, no_kick
):
    message = queue(alice_provider, "gone@example.com", is_test=True)
    suppression_add(account=alice, email="gone@example.com", reason="manual")
    assert queue_drain().suppressed == 1
    message.refresh_from_db()
    assert message.status == MessageStatus.SUPPRESSED
