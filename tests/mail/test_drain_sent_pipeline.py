"""SENT results written through ``SentPipeline``: the drain's PostgreSQL path.

The write is handed to the server and read later; what it writes, its fence, its refusals
and its bounded wait are the same guarantees as the direct write's.
"""

import threading

import pytest
from django.db import connection, transaction

from mail.models import Message, MessageEvent, QueueItem
from mail.queue import DrainResult, OutcomeKind, queue_claim
from mail.queue.record import DatabaseStalled, SentPipeline
from mail.queue.send import outcome_of
from suppressions.models import Suppression

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(60)]


@pytest.fixture
def pipeline_for():
    """A pipeline per worker id, closed at the end."""
    if connection.vendor != "postgresql":
        pytest.skip("the pipeline is PostgreSQL's (SQLite writes each result at once)")
    made: list[SentPipeline] = []

    def make(worker_id: str, *, timeout: float = 30.0) -> tuple[SentPipeline, DrainResult]:
        result = DrainResult()
        pipeline = SentPipeline(worker_id=worker_id, result=result, timeout=timeout)
        made.append(pipeline)
        return pipeline, result

    yield make
    for pipeline in made:
        pipeline.close()


def test_a_sent_result_is_written_in_the_background_and_counted_when_read(
    alice_provider, smtp_server, enqueue, no_kick, pipeline_for
):
    messages = enqueue(provider=alice_provider, count=3)
    claimed = queue_claim(worker_id="w", size=10)
    pipeline, result = pipeline_for("w")

    pipeline.send(
        [
            outcome_of(entry, OutcomeKind.SENT, provider=alice_provider, provider_message_id="p1")
            for entry in claimed
        ]
    )
    assert pipeline.collect(block=True)

    assert result.sent == 3 and not pipeline.inflight
    for message in messages:
        message.refresh_from_db()
        assert (message.status, message.provider_message_id) == ("sent", "p1")
        assert message.sent_at is not None and message.limit_counted_at is not None
        assert message.queue_item.status == "sent" and message.queue_item.locked_by == ""
        assert MessageEvent.objects.filter(message=message, event_type="sent").count() == 1


def test_a_result_of_a_worker_that_lost_its_lease_is_dropped(
    alice_provider, smtp_server, enqueue, no_kick, pipeline_for
):
    [message] = enqueue(provider=alice_provider)
    [stale] = queue_claim(worker_id="slow-worker", size=10)
    QueueItem.objects.update(locked_by="other-worker")  # another worker took it over
    pipeline, result = pipeline_for("slow-worker")

    pipeline.send([outcome_of(stale, OutcomeKind.SENT)])
    assert pipeline.collect(block=True)

    assert result.sent == 0
    message.refresh_from_db()
    assert message.status == "sending" and message.sent_at is None
    assert not MessageEvent.objects.filter(message=message, event_type="sent").exists()


def test_recipients_refused_at_rcpt_are_recorded_once_the_status_is_written(
    alice_provider, smtp_server, enqueue, no_kick, pipeline_for
):
    [message] = enqueue(provider=alice_provider, cc=["gone@example.com"])
    [entry] = queue_claim(worker_id="w", size=10)
    pipeline, _ = pipeline_for("w")
    refused = {"gone@example.com": "550 5.1.1 No such user"}

    pipeline.send([outcome_of(entry, OutcomeKind.SENT, provider=alice_provider, refused=refused)])
    pipeline.collect(block=True)

    bounced = MessageEvent.objects.get(message=message, event_type="bounced")
    assert bounced.recipient == "gone@example.com"
    assert Suppression.objects.filter(email="gone@example.com").exists()
    message.refresh_from_db()
    assert message.status == "sent"  # the "to" went out


def test_waiting_for_a_write_the_database_does_not_answer_is_bounded(
    alice_provider, smtp_server, enqueue, no_kick, pipeline_for
):
    [message] = enqueue(provider=alice_provider)
    [entry] = queue_claim(worker_id="w", size=10)
    pipeline, _ = pipeline_for("w", timeout=0.5)
    locked, release = threading.Event(), threading.Event()

    def hold_the_row() -> None:  # another session holds the item's row: the write waits
        with transaction.atomic():
            list(QueueItem.objects.select_for_update().filter(message=message))
            locked.set()
            release.wait(timeout=30)
        connection.close()

    holder = threading.Thread(target=hold_the_row)
    holder.start()
    try:
        assert locked.wait(timeout=10)
        pipeline.send([outcome_of(entry, OutcomeKind.SENT)])
        assert pipeline.collect(block=False) is False  # not done, and no wait
        with pytest.raises(DatabaseStalled):
            pipeline.collect(block=True)
    finally:
        release.set()
        holder.join(timeout=30)
    # Once the row is free the write goes through and is read as usual.
    pipeline.timeout = 30.0
    assert pipeline.collect(block=True)
    assert Message.objects.get(pk=message.pk).status == "sent"
