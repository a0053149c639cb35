"""A failing result write stops the drain with the error; it never hangs (issue 9, defect 3)."""

import time

import pytest
from django.db import DatabaseError

import mail.queue.drain
from mail.models import QueueItem
from mail.queue import queue_drain

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(60)]


def test_a_failing_result_write_ends_the_drain_with_its_error(
    alice_provider, smtp_server, enqueue, no_kick, settings, monkeypatch
):
    settings.MAILPASS_QUEUE_BATCH_SIZE = 5  # several chunks: a claim is prefetched
    enqueue(provider=alice_provider, count=20)

    def broken(**kwargs):
        time.sleep(0.2)  # slow enough that later jobs (the prefetched claim) queue behind it
        raise DatabaseError("disk full")

    monkeypatch.setattr(mail.queue.drain, "queue_record", broken)

    with pytest.raises(DatabaseError, match="disk full"):
        queue_drain()

    # It stopped sending at the first failed write (the bound on unwritten results) and
    # left the rest for a later run.
    assert len(smtp_server.messages) <= 2
    assert QueueItem.objects.filter(status="queued").count() >= 10
