"""Queue items whose message is not where the item says: never stuck, never sent twice.

An item left ``sending`` by a worker whose lease expired, or a due ``queued`` item, whose
message is already past sending (sent, failed, canceled...) ends with the message's outcome;
one whose message is still waiting is claimed again and sent once.
"""

from datetime import timedelta

import pytest
from django.utils import timezone

from mail.models import Message, MessageEvent, QueueItem
from mail.queue import queue_claim, queue_drain

pytestmark = pytest.mark.django_db


def _lease_expired_with_message(message: Message, status: str) -> None:
    """A worker claimed the item and died; meanwhile the message became ``status``."""
    assert len(queue_claim(worker_id="dead-worker", size=10)) == 1
    QueueItem.objects.filter(message=message).update(
        locked_until=timezone.now() - timedelta(seconds=1)
    )
    Message.objects.filter(pk=message.pk).update(status=status)


@pytest.mark.parametrize(
    ("message_status", "item_status"),
    [
        ("sent", "sent"),
        ("delivered", "sent"),
        ("bounced", "sent"),
        ("failed", "failed"),
        ("suppressed", "suppressed"),
        ("canceled", "canceled"),
    ],
)
def test_an_expired_item_whose_message_is_final_is_finished_not_sent(
    alice_provider, smtp_server, enqueue, message_status, item_status
):
    [message] = enqueue(provider=alice_provider)
    _lease_expired_with_message(message, message_status)
    events_before = MessageEvent.objects.filter(message=message).count()

    result = queue_drain()

    assert result.total == 0
    assert smtp_server.messages == []
    item = QueueItem.objects.get(message=message)
    assert (item.status, item.locked_by, item.locked_until) == (item_status, "", None)
    assert f"already {message_status}" in item.last_error
    message.refresh_from_db()
    assert message.status == message_status  # left as whoever finished it wrote it
    assert MessageEvent.objects.filter(message=message).count() == events_before
    assert QueueItem.objects.filter(status__in=["queued", "sending"]).count() == 0


def test_an_expired_item_whose_message_is_still_queued_is_claimed_again_and_sent_once(
    alice_provider, smtp_server, enqueue
):
    [message] = enqueue(provider=alice_provider)
    _lease_expired_with_message(message, "queued")

    result = queue_drain()

    assert result.sent == 1
    assert [m.message_id for m in smtp_server.messages] == [message.message_id]
    message.refresh_from_db()
    assert message.status == message.queue_item.status == "sent"


def test_a_due_item_whose_message_is_final_is_finished_and_the_items_behind_it_go_out(
    alice_provider, smtp_server, enqueue, settings
):
    settings.MAILPASS_QUEUE_BATCH_SIZE = 2  # the stuck ones fill the head of the due order
    messages = enqueue(provider=alice_provider, count=5)
    stuck = messages[:2]
    Message.objects.filter(pk__in=[m.pk for m in stuck]).update(status="canceled")
    for n, message in enumerate(messages):  # due in this order
        QueueItem.objects.filter(message=message).update(
            next_attempt_at=timezone.now() - timedelta(minutes=10 - n)
        )

    result = queue_drain()

    assert result.sent == 3
    assert sorted(m.message_id for m in smtp_server.messages) == sorted(
        m.message_id for m in messages[2:]
    )
    assert set(QueueItem.objects.filter(message__in=stuck).values_list("status", flat=True)) == {
        "canceled"
    }
    assert queue_claim(worker_id="later", size=10) == []


def test_a_due_item_whose_message_was_left_sending_is_claimed_and_sent_once(
    alice_provider, smtp_server, enqueue
):
    """No worker holds a ``queued`` item: its message's ``sending`` is stale."""
    [message] = enqueue(provider=alice_provider)
    Message.objects.filter(pk=message.pk).update(status="sending")

    result = queue_drain()

    assert result.sent == 1
    assert len(smtp_server.messages) == 1
    message.refresh_from_db()
    assert message.status == "sent"
