"""Celery tasks of the mail app: thin wrappers around the queue services."""

from dataclasses import asdict

from celery import shared_task

from mail.attachments import attachment_contents_purge
from mail.idempotency import idempotency_records_purge
from mail.limits import send_limit_buckets_purge
from mail.queue import QUEUE_DRAIN_TASK, queue_drain
from mail.services import messages_unfinished_fail


@shared_task(name=QUEUE_DRAIN_TASK, ignore_result=True)
def queue_drain_task(limit: int | None = None) -> dict[str, int]:
    """Drain the mail queue once (kicked after an enqueue, and by celery-beat)."""
    result = asdict(queue_drain(limit=limit))
    # Housekeeping rides on the periodic drain: both are cheap indexed statements.
    result["unfinished_closed"] = messages_unfinished_fail()
    result["idempotency_purged"] = idempotency_records_purge()
    result["attachments_purged"] = attachment_contents_purge()
    result["limit_buckets_purged"] = send_limit_buckets_purge()
    return result
