"""Celery tasks of the webhooks app, on their own queue (``celery worker -Q webhooks``)."""

from dataclasses import asdict

from celery import shared_task
from django.conf import settings

from webhooks.delivery import webhooks_run

WEBHOOKS_QUEUE = "webhooks"
WEBHOOKS_DELIVER_TASK = "webhooks.deliver"


@shared_task(name=WEBHOOKS_DELIVER_TASK, ignore_result=True)
def webhooks_deliver_task(limit: int | None = None) -> dict[str, int]:
    """Deliver the due webhooks (kicked after events commit, and by celery-beat)."""
    return asdict(webhooks_run(limit=limit, budget_seconds=settings.MAILPASS_WEBHOOK_RUN_SECONDS))
