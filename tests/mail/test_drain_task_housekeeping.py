"""The periodic drain task also purges expired idempotency records and closes dead sends."""

from datetime import timedelta

import pytest
from django.utils import timezone

from mail.models import IdempotencyRecord, Message, MessageStatus
from mail.tasks import queue_drain_task
from tests.factories import MessageFactory


@pytest.mark.django_db
def test_the_drain_task_purges_idempotency_records_past_their_ttl(alice, settings):
    old = IdempotencyRecord.objects.create(account=alice, key="old", request_hash="x")
    fresh = IdempotencyRecord.objects.create(account=alice, key="fresh", request_hash="y")
    IdempotencyRecord.objects.filter(pk=old.pk).update(
        created_at=timezone.now() - timedelta(hours=settings.MAILPASS_IDEMPOTENCY_TTL_HOURS + 1)
    )

    result = queue_drain_task()

    assert result["idempotency_purged"] == 1
    assert list(IdempotencyRecord.objects.values_list("pk", flat=True)) == [fresh.pk]


@pytest.mark.django_db
def test_the_drain_task_closes_single_sends_a_dead_process_left_sending(alice):
    message = MessageFactory(account=alice, status=MessageStatus.SENDING)
    Message.objects.filter(pk=message.pk).update(updated_at=timezone.now() - timedelta(hours=1))

    assert queue_drain_task()["unfinished_closed"] == 1
    message.refresh_from_db()
    assert message.status == MessageStatus.FAILED
