"""The periodic tasks, run inside the web process when there is no broker (the embedded default).

With a broker, celery-beat sends the entries of its database schedule (the queue drain, webhook
deliveries) to workers. Without one there is no beat and no worker: scheduled sends, deferred
retries and webhook retries would never be picked up. ``embedded_beat_start`` runs a daemon
thread that does beat's job for the same schedule rows: every entry with an interval runs in
this process (``Task.apply``, as eager mode runs every task) when its interval has passed.
"""

import json
import logging
import threading
import time
from dataclasses import dataclass, field

from celery import current_app
from django.db import connections

logger = logging.getLogger(__name__)

# How often the thread looks at the schedule; entries run at their own intervals.
TICK_SECONDS = 1.0


@dataclass
class EmbeddedBeat:
    """Runs the enabled interval entries of django-celery-beat's schedule when they are due."""

    tick_seconds: float = TICK_SECONDS
    last_run: dict[str, float] = field(default_factory=dict)
    stopping: threading.Event = field(default_factory=threading.Event)

    def run_due(self, now: float) -> list[str]:
        """Run every entry whose interval has passed since its last run here; their names."""
        from django_celery_beat.models import PeriodicTask

        entries = PeriodicTask.objects.filter(enabled=True, interval__isnull=False).select_related(
            "interval"
        )
        ran = []
        for entry in entries:
            every = entry.interval.schedule.run_every.total_seconds()
            if now - self.last_run.get(entry.name, float("-inf")) < every:
                continue
            self.last_run[entry.name] = now
            task = current_app.tasks.get(entry.task)
            if task is None:
                logger.warning("embedded beat: no task named %s", entry.task)
                continue
            try:
                task.apply(
                    args=json.loads(entry.args or "[]"), kwargs=json.loads(entry.kwargs or "{}")
                )
            except Exception:  # one failing entry must not stop the others or the thread
                logger.exception("embedded beat: %s failed", entry.task)
            ran.append(entry.name)
        return ran

    def loop(self) -> None:
        while not self.stopping.wait(self.tick_seconds):
            try:
                self.run_due(time.monotonic())
            except Exception:
                logger.exception("embedded beat: the schedule could not be read")
            finally:
                # This thread's connections only: each tick starts on a fresh one.
                connections.close_all()

    def stop(self) -> None:
        self.stopping.set()


def embedded_beat_start(*, tick_seconds: float = TICK_SECONDS) -> EmbeddedBeat:
    beat = EmbeddedBeat(tick_seconds=tick_seconds)
    threading.Thread(target=beat.loop, name="mailpass-embedded-beat", daemon=True).start()
    return beat
