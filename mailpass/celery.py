"""The Celery application: workers send queued mail, beat schedules the queue drain."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mailpass.settings")

app = Celery("mailpass")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
