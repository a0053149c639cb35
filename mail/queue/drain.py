"""Drain: the loop of a run (claim, send, record) and the database thread that overlaps them."""

import functools
import logging
import queue
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from datetime import timedelta

from django.conf import settings
from django.db import connection
from django.utils import timezone

from mail.models import QueueItem, QueueItemStatus
from mail.queue.claim import queue_claim, worker_id_make
from mail.queue.record import DrainResult, Outcome, queue_record
from mail.queue.send import chunk_send

logger = logging.getLogger(__name__)

# Results are written at the latest after this many messages or seconds: one transaction per
# message would cost more than the SMTP conversation itself. A crash can thus send again the
# few messages whose result was not yet written (delivery is at-least-once; the stable
# Message-ID lets receivers drop a duplicate).
FINALIZE_MAX_MESSAGES = 50
FINALIZE_MAX_SECONDS = 0.5
# Write results in a thread of their own on PostgreSQL (see _Finalizer); the benchmark
# compares both ways.
BACKGROUND_FINALIZE = True
# A run stops claiming new chunks after this long, well inside Celery's soft time limit; the
# next run (beat, every few seconds) goes on.
DRAIN_MAX_SECONDS = 120.0


class _Finalizer:
    """Collects outcomes and writes them in small fenced groups.

    On PostgreSQL (outside a caller's transaction) the writes run in a thread with its own
    database connection, so they overlap the SMTP conversations instead of adding to them;
    every database write of the run (results, lease renewals) goes through that one thread.
    If a write fails, the run stops: sending on without recording results would only make
    duplicates once the leases expire.
    """

    def __init__(self, *, worker_id: str, result: DrainResult, background: bool) -> None:
        self.worker_id = worker_id
        self.result = result
        self.pending: list[Outcome] = []
        self.oldest: float = 0.0
        self.error: BaseException | None = None
        self.jobs: queue.SimpleQueue | None = None
        self.thread: threading.Thread | None = None
        if background:
            self.jobs = queue.SimpleQueue()
            self.thread = threading.Thread(
                target=self._work, name=f"queue-finalize-{worker_id}", daemon=True
            )
            self.thread.start()

    def add(self, outcome: Outcome) -> None:
        if not self.pending:
            self.oldest = time.monotonic()
        self.pending.append(outcome)
        if (
            len(self.pending) >= FINALIZE_MAX_MESSAGES
            or time.monotonic() - self.oldest >= FINALIZE_MAX_SECONDS
        ):
            self.flush()

    def flush(self) -> None:
        if self.pending:
            outcomes, self.pending = self.pending, []
            self.submit(
                lambda: queue_record(
                    worker_id=self.worker_id, outcomes=outcomes, result=self.result
                )
            )

    def submit(self, job: Callable[[], None]) -> None:
        if self.error is not None:
            raise self.error
        if self.jobs is None:
            job()
        else:
            self.jobs.put(job)

    def prefetch(self, claim: Callable[[], list]) -> Future:
        """Run ``claim`` in the database thread (at once without one); its result later."""
        future: Future = Future()

        def job() -> None:
            try:
                future.set_result(claim())
            except BaseException as exc:
                future.set_exception(exc)

        self.submit(job)
        return future

    def close(self) -> None:
        """Write what is pending and wait for it; raise if a write failed."""
        try:
            self.flush()
        finally:
            if self.thread is not None:
                self.jobs.put(None)
                self.thread.join()
                self.thread = None
        if self.error is not None:
            raise self.error

    def _work(self) -> None:
        try:
            while (job := self.jobs.get()) is not None:
                if self.error is None:
                    try:
                        job()
                    except BaseException as exc:
                        logger.exception("writing queue results failed")
                        self.error = exc
        finally:
            connection.close()  # this thread's own connection


@dataclass
class _Run:
    """One drain run: its worker id, open connections and the lease it must keep alive."""

    worker_id: str
    finalizer: _Finalizer
    connections: dict[int, object] = field(default_factory=dict)
    lease_renew_at: float = 0.0

    def add(self, outcome: Outcome) -> None:
        self.finalizer.add(outcome)

    def lease_keep(self) -> None:
        """Extend the lease of everything this run holds when half of it has passed."""
        if time.monotonic() < self.lease_renew_at:
            return
        lease = settings.MAILPASS_QUEUE_LEASE_SECONDS
        self.lease_renew_at = time.monotonic() + lease / 2
        worker_id = self.worker_id
        self.finalizer.submit(
            lambda: QueueItem.objects.filter(
                locked_by=worker_id, status=QueueItemStatus.SENDING
            ).update(locked_until=timezone.now() + timedelta(seconds=lease))
        )

    def close(self) -> None:
        for smtp in self.connections.values():
            try:
                smtp.close()
            except Exception:  # closing a dead connection must not hide the real result
                logger.debug("closing an SMTP connection failed", exc_info=True)
        self.connections.clear()


def queue_drain(*, limit: int | None = None, worker_id: str | None = None) -> DrainResult:
    """Send due queue items until none is left, ``limit`` items are handled or time is up.

    Returns how many were sent, deferred (retry later or send limit) and failed.
    """
    result = DrainResult()
    worker_id = worker_id or worker_id_make()
    # Inside a caller's transaction (tests) another connection could not see its rows.
    background = (
        BACKGROUND_FINALIZE and connection.vendor == "postgresql" and not connection.in_atomic_block
    )
    run = _Run(
        worker_id=worker_id,
        finalizer=_Finalizer(worker_id=worker_id, result=result, background=background),
    )
    lease = settings.MAILPASS_QUEUE_LEASE_SECONDS
    # Renewals every half lease cover everything the run holds, prefetched chunks included.
    run.lease_renew_at = time.monotonic() + lease / 2
    stop_at = time.monotonic() + DRAIN_MAX_SECONDS

    def next_size(handled: int) -> int:
        if time.monotonic() >= stop_at:
            return 0
        size = settings.MAILPASS_QUEUE_BATCH_SIZE
        return size if limit is None else min(size, limit - handled)

    handled = 0
    try:
        claimed = queue_claim(worker_id=worker_id, size=next_size(0))
        while claimed:
            handled += len(claimed)
            # The next chunk is claimed (in the database thread) while this one is sent, so
            # the sender never waits for a claim after the first one. A claimed chunk is
            # always sent, so nothing stays leased for nothing.
            size = next_size(handled)
            upcoming = run.finalizer.prefetch(
                functools.partial(queue_claim, worker_id=worker_id, size=size) if size else list
            )
            chunk_send(run, claimed)
            run.finalizer.flush()
            claimed = upcoming.result()
    finally:
        run.close()
        run.finalizer.close()
    return result
