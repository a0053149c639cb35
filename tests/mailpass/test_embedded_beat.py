"""Without a broker there is no celery-beat: the web process runs its schedule (bin/run)."""

import datetime
import time

import pytest
from django.utils import timezone

from mail.models import Message
from mailpass.embedded_beat import EmbeddedBeat, embedded_beat_start

pytestmark = pytest.mark.django_db(transaction=True)


def _iso(moment: datetime.datetime) -> str:
    return moment.astimezone(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def test_a_scheduled_send_goes_out_when_due_with_no_worker(
    alice_client, alice_provider, smtp_server
):
    send_at = timezone.now().replace(microsecond=0) + datetime.timedelta(seconds=2)
    response = alice_client.post(
        "/api/v1/mail/send",
        {"to": "user@example.com", "subject": "Later", "text": "t", "send_at": _iso(send_at)},
        format="json",
    )
    assert response.json()["data"]["status"] == "scheduled"
    beat = embedded_beat_start(tick_seconds=0.2)
    try:
        # The sink has the message a moment before the drain commits "sent": wait for both.
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not (
            smtp_server.messages and Message.objects.filter(status="sent").exists()
        ):
            time.sleep(0.1)
    finally:
        beat.stop()

    assert len(smtp_server.messages) == 1
    assert Message.objects.get().status == "sent"


def test_each_entry_runs_at_its_own_interval():
    from django_celery_beat.models import PeriodicTask

    beat = EmbeddedBeat()
    entries = {
        entry.name: entry.interval.schedule.run_every.total_seconds()
        for entry in PeriodicTask.objects.filter(enabled=True, interval__isnull=False)
    }
    assert len(entries) >= 2  # the queue drain and webhook deliveries

    first = beat.run_due(1000.0)
    again = beat.run_due(1000.5)
    later = beat.run_due(1000.0 + max(entries.values()))

    assert sorted(first) == sorted(entries)
    assert again == []
    assert sorted(later) == sorted(entries)
