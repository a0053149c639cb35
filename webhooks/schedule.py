"""The periodic webhook run in celery-beat's database schedule (installed after ``migrate``).

Deliveries wait in the database (``next_attempt_at``), never in broker ETAs: this entry is what
guarantees progress; after-commit kicks only cut latency.
"""

import json
import math

from django.conf import settings

WEBHOOKS_SCHEDULE_NAME = "webhooks: deliver due events"


def webhooks_schedule_install(*, apps=None, using: str = "default", **kwargs) -> None:
    from webhooks.tasks import WEBHOOKS_DELIVER_TASK, WEBHOOKS_QUEUE

    if apps is not None:
        try:
            apps.get_model("django_celery_beat", "PeriodicTask")
        except LookupError:
            return
    from django_celery_beat.models import IntervalSchedule as interval_model
    from django_celery_beat.models import PeriodicTask as task_model

    every = max(1, math.ceil(settings.MAILPASS_WEBHOOK_INTERVAL))
    interval, _ = interval_model.objects.using(using).get_or_create(every=every, period="seconds")
    task_model.objects.using(using).update_or_create(
        name=WEBHOOKS_SCHEDULE_NAME,
        defaults={
            "task": WEBHOOKS_DELIVER_TASK,
            "interval": interval,
            "crontab": None,
            "solar": None,
            "clocked": None,
            "args": "[]",
            "kwargs": json.dumps({}),
            "queue": WEBHOOKS_QUEUE,
            "expire_seconds": every,
            "enabled": True,
            "one_off": False,
        },
    )
    task_model.objects.using(using).filter(task=WEBHOOKS_DELIVER_TASK).exclude(
        name=WEBHOOKS_SCHEDULE_NAME
    ).delete()
