"""A failing result write stops the drain with the error; it never hangs (issue 9, defect 3)."""

import pytest
from django.db import DatabaseError

from mail.models import QueueItem
from mail.queue import queue_drain

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(60)]


def test_a_failing_result_write_ends_the_drain_with_its_error(
    alice_provider, smtp_server, enqueue, no_kick, settings, sent_writes_fail
):
    settings.MAILPASS_QUEUE_BATCH_SIZE = 5  # several chunks: a claim is prefetched
    enqueue(provider=alice_provider, count=20)

    with pytest.raises(DatabaseError, match="disk full"):
        queue_drain()

    # It stopped sending at the first failed write (the bound on unwritten results) and
    # left the rest for a later run.
    assert len(smtp_server.messages) <= 2
    assert QueueItem.objects.filter(status="queued").count() >= 10
