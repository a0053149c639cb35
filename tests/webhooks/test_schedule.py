"""The periodic webhook run is in celery-beat's schedule after migrate, on its own queue."""

import pytest
from django_celery_beat.models import PeriodicTask

from webhooks.schedule import WEBHOOKS_SCHEDULE_NAME, webhooks_schedule_install

pytestmark = pytest.mark.django_db


def test_migrate_installs_one_entry_on_the_webhooks_queue_that_expires_after_an_interval():
    entry = PeriodicTask.objects.get(name=WEBHOOKS_SCHEDULE_NAME)

    assert entry.task == "webhooks.deliver"
    assert entry.queue == "webhooks"
    assert entry.enabled and entry.interval.every == 5 and entry.expire_seconds == 5


def test_installing_again_follows_the_interval_setting_and_keeps_one_entry(settings):
    settings.MAILPASS_WEBHOOK_INTERVAL = 30

    webhooks_schedule_install()
    webhooks_schedule_install()

    (entry,) = PeriodicTask.objects.filter(task="webhooks.deliver")
    assert entry.interval.every == 30


def test_the_task_is_routed_to_the_webhooks_queue(settings):
    from mailpass.celery import app

    route = app.amqp.router.route({}, "webhooks.deliver")
    assert route["queue"].name == "webhooks"
