"""Drill: a flapping SMTP provider (down, then 4xx, then fine): queued mail arrives exactly once.

In-process on real PostgreSQL and a real aiosmtpd server; ``queue_drain`` is the code path of
both the Celery task and ``process_mail_queue``.
"""

import time
from collections import Counter

import pytest

from mail.models import Message, MessageStatus, QueueItem
from tests.factories import SmtpProviderFactory

pytestmark = pytest.mark.drill

BATCH_SIZE = 6


def test_queued_mail_survives_a_flapping_provider_and_arrives_exactly_once(
    settings, alice, alice_client, smtp_server
):
    # Backoff of 0.2, 0.6, 1.8... s (x1..1.5 jitter): retries come within the test, not an hour.
    settings.MAILPASS_QUEUE_RETRY_BASE_SECONDS = 0.2
    settings.MAILPASS_QUEUE_MAX_ATTEMPTS = 5
    SmtpProviderFactory(account=alice, host=smtp_server.host, port=smtp_server.port, timeout=2)
    batch = {"messages": [{"to": f"user{n}@example.com", "subject": "Hi", "text": "Hello"}
                          for n in range(BATCH_SIZE)]}  # fmt: skip
    response = alice_client.post("/api/v1/mail/send-batch", batch, format="json")
    if response.status_code == 501:
        pytest.skip("POST /send-batch is not implemented on this branch yet")
    from mail.queue import queue_drain  # lands with /send-batch

    assert response.status_code == 200, response.content
    queued_ids = {item["message_id"] for item in response.json()["data"]["messages"]}

    smtp_server.stop()  # down: connection refused, every item deferred
    first = queue_drain()
    assert (first.sent, first.failed) == (0, 0)
    assert first.deferred == BATCH_SIZE
    assert smtp_server.messages == []

    smtp_server.start()  # back, but answering 451 to the next two messages
    smtp_server.behaviour.data_replies = ["451 4.3.0 Try again later"] * 2
    for _ in range(20):
        time.sleep(0.5)
        queue_drain()
        if not QueueItem.objects.exclude(status__in=["sent", "failed"]).exists():
            break

    arrived = Counter(m.message_id for m in smtp_server.messages)
    assert set(arrived) == queued_ids
    assert max(arrived.values()) == 1  # exactly once each
    assert set(Message.objects.values_list("status", flat=True)) == {MessageStatus.SENT}
    assert Message.objects.filter(attempts__gt=1).count() >= 2
