"""The periodic drain is installed by ``migrate`` (the test database was just migrated)."""

import pytest
from django.core.management import call_command
from django_celery_beat.models import PeriodicTask

from mail.schedule import queue_drain_schedule_install

pytestmark = pytest.mark.django_db


def test_the_drain_is_scheduled_every_10_seconds_after_migrate():
    [entry] = PeriodicTask.objects.filter(task="mail.queue_drain")

    assert entry.enabled
    assert (entry.interval.every, entry.interval.period) == (10, "seconds")
    assert entry.expire_seconds == 10  # a backlog of drain messages ages out


def test_installing_again_keeps_one_entry_and_follows_the_setting(settings):
    settings.MAILPASS_QUEUE_DRAIN_INTERVAL = 30
    queue_drain_schedule_install()
    queue_drain_schedule_install()

    [entry] = PeriodicTask.objects.filter(task="mail.queue_drain")
    assert entry.interval.every == 30


def test_migrate_again_is_harmless():
    call_command("migrate", verbosity=0)

    assert PeriodicTask.objects.filter(task="mail.queue_drain").count() == 1
