"""A drain that stops on an error gives back what it claimed and never tried.

The prefetched chunk and the rest of the current one are claimable at once (their attempt
undone); only the messages that may have gone out keep their lease.
"""

import pytest
from django.db import DatabaseError

import mail.queue.send
from mail.models import Message, QueueItem
from mail.queue import queue_drain

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(60)]


def _assert_released_except_at_most(count: int, *, total: int) -> set[int]:
    """Every item is back to ``queued`` (attempt undone) but at most ``count`` still leased;
    returns the pks of the leased ones."""
    leased = set(QueueItem.objects.filter(status="sending").values_list("pk", flat=True))
    assert len(leased) <= count
    released = QueueItem.objects.exclude(pk__in=leased)
    assert released.count() == total - len(leased)
    assert set(released.values_list("status", "locked_by", "locked_until", "attempts")) == {
        ("queued", "", None, 0)
    }
    messages = Message.objects.filter(queue_item__in=released)
    assert set(messages.values_list("status", "attempts", "limit_counted_at")) == {
        ("queued", 0, None)
    }
    return leased


def test_a_failing_result_write_releases_the_prefetched_chunk_and_the_untried_rest(
    alice_provider, smtp_server, enqueue, no_kick, settings, sent_writes_fail
):
    settings.MAILPASS_QUEUE_BATCH_SIZE = 5  # a second chunk is claimed ahead
    settings.MAILPASS_QUEUE_LEASE_SECONDS = 300
    enqueue(provider=alice_provider, count=20)

    with pytest.raises(DatabaseError, match="disk full"):
        queue_drain()
    leased = _assert_released_except_at_most(2, total=20)
    assert len(smtp_server.messages) == len(leased)  # exactly those may have gone out
    sent_writes_fail()  # repaired

    result = queue_drain()  # at once: no lease has expired

    assert result.sent == 20 - len(leased)
    arrived = [m.message_id for m in smtp_server.messages]
    assert len(arrived) == len(set(arrived)) == 20


def test_a_database_error_in_the_sender_releases_what_was_not_tried(
    alice_provider, smtp_server, enqueue, no_kick, settings, monkeypatch
):
    settings.MAILPASS_QUEUE_BATCH_SIZE = 5
    alice_provider.hourly_limit = 1000  # each send reserves a slot first
    alice_provider.save()
    enqueue(provider=alice_provider, count=12)
    real_reserve = mail.queue.send.send_limit_reserve
    calls = []

    def reserve_then_break(**kwargs):
        calls.append(1)
        if len(calls) == 3:
            raise DatabaseError("connection lost")
        return real_reserve(**kwargs)

    monkeypatch.setattr(mail.queue.send, "send_limit_reserve", reserve_then_break)

    with pytest.raises(DatabaseError, match="connection lost"):
        queue_drain()

    # The first two were sent and written; nothing else is leased.
    assert len(smtp_server.messages) == 2
    assert QueueItem.objects.filter(status="sent").count() == 2
    sent = set(QueueItem.objects.filter(status="sent").values_list("pk", flat=True))
    QueueItem.objects.filter(pk__in=sent).delete()  # out of the picture for the check
    _assert_released_except_at_most(0, total=10)
