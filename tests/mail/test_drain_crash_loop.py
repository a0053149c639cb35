"""A message that kills every worker taking it ends failed (issue 9, defect 4)."""

from datetime import timedelta

import pytest
from django.utils import timezone

from mail.models import MessageEvent, QueueItem
from mail.queue import queue_claim, queue_drain

pytestmark = pytest.mark.django_db


def _worker_dies_holding_it(name: str) -> None:
    """A worker claims the item, then dies before recording anything; its lease expires."""
    assert len(queue_claim(worker_id=name, size=10)) == 1
    QueueItem.objects.update(locked_until=timezone.now() - timedelta(seconds=1))


def test_an_item_claimed_the_maximum_times_without_an_outcome_ends_failed(
    alice_provider, smtp_server, enqueue, settings
):
    settings.MAILPASS_QUEUE_MAX_ATTEMPTS = 3
    [message] = enqueue(provider=alice_provider)
    for n in range(3):
        _worker_dies_holding_it(f"dying-worker-{n}")

    result = queue_drain()

    assert smtp_server.messages == []  # not handed to a fourth worker
    assert result.sent == 0
    message.refresh_from_db()
    item = message.queue_item
    assert (message.status, item.status) == ("failed", "failed")
    assert message.attempts == item.attempts == 3
    assert message.error_message.startswith("gave up after 3 attempts")
    assert "stopped before recording an outcome" in message.error_message
    assert MessageEvent.objects.filter(message=message, event_type="failed").count() == 1
    assert queue_drain().total == 0


def test_a_claim_counts_an_attempt(alice_provider, smtp_server, enqueue):
    [message] = enqueue(provider=alice_provider)

    [claimed] = queue_claim(worker_id="w", size=10)

    assert claimed.item.attempts == 1
    message.refresh_from_db()
    assert message.attempts == 1 and message.queue_item.attempts == 1
