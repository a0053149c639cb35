"""The periodic queue drain in celery-beat's database schedule (django-celery-beat).

Installed after every ``migrate`` (``post_migrate``), so it exists on every fresh install and
follows ``MAILPASS_QUEUE_DRAIN_INTERVAL`` when that changes. There is exactly one entry.
"""

import json
import math

from django.conf import settings

QUEUE_DRAIN_SCHEDULE_NAME = "mail: drain the queue"


def queue_drain_schedule_install(*, apps=None, using: str = "default", **kwargs) -> None:
    """Create or update the drain entry. Each drain message expires after one interval: a
    backlog (workers down for a while) then ages out instead of running many drains at once."""
    from mail.queue import QUEUE_DRAIN_TASK

    if apps is not None:
        try:  # the migration state tells whether celery-beat's tables exist yet
            apps.get_model("django_celery_beat", "PeriodicTask")
        except LookupError:
            return
    # The real models, not the historical ones: their save signals tell a running beat.
    from django_celery_beat.models import IntervalSchedule as interval_model
    from django_celery_beat.models import PeriodicTask as task_model

    every = max(1, math.ceil(settings.MAILPASS_QUEUE_DRAIN_INTERVAL))
    interval, _ = interval_model.objects.using(using).get_or_create(every=every, period="seconds")
    task_model.objects.using(using).update_or_create(
        name=QUEUE_DRAIN_SCHEDULE_NAME,
        defaults={
            "task": QUEUE_DRAIN_TASK,
            "interval": interval,
            "crontab": None,
            "solar": None,
            "clocked": None,
            "args": "[]",
            "kwargs": json.dumps({}),
            "expire_seconds": every,
            "enabled": True,
            "one_off": False,
        },
    )
    # Two entries would run two drains per interval for nothing.
    task_model.objects.using(using).filter(task=QUEUE_DRAIN_TASK).exclude(
        name=QUEUE_DRAIN_SCHEDULE_NAME
    ).delete()
