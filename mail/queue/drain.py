"""Drain: the loop of a run (claim, send, record) and the database thread that overlaps them.

Results are group-committed: the moment the previous write is done, everything pending is
written in one go (no fixed group size or delay). Before each SMTP transaction the sender
waits until at most one result is unwritten, so when a worker process is killed at most two
of its messages can have been accepted by the server without their result written (the one
in SMTP and the one being written); only those can go out twice after its lease expires.

Every wait for the database thread is bounded (``DATABASE_WAIT_SECONDS``), and every job
given to it ends resolved, with its result or an error: a failing write stops the run
instead of leaving it waiting. A run that stops on an error releases what it claimed and
never tried (the prefetched chunk, the rest of the current one): those items are claimable
at once instead of waiting for their lease. Items that reached SMTP, or whose result may be
unwritten, keep their lease: only its expiry can tell whether they went out.
"""

import functools
import logging
import sys
import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.core.mail.backends.smtp import EmailBackend
from django.db import connection
from django.utils import timezone

from mail.models import QueueItem, QueueItemStatus
from mail.queue.claim import Claimed, queue_claim, queue_release, worker_id_make
from mail.queue.record import DrainResult, Outcome, queue_record
from mail.queue.send import chunk_send

logger = logging.getLogger(__name__)

# Write results in a thread of their own on PostgreSQL (see _Database); the benchmark
# compares both ways.
BACKGROUND_RECORD = True
# Results allowed unwritten when the next SMTP transaction starts (the duplicate bound - 1).
UNRECORDED_MAX = 1
# The longest the sender waits for the database thread (a write, a claim, closing).
DATABASE_WAIT_SECONDS = 60.0
# While a run writes in the background, the interpreter switches threads this often (seconds;
# Python's default is 0.005): a write that is done waits for the GIL no longer than this
# before the sender hears of it, where 5 ms would cost more than a message's SMTP exchange.
SWITCH_INTERVAL = 0.0002
# A run stops claiming new chunks after this long, well inside Celery's soft time limit; the
# next run (beat, every few seconds) goes on.
DRAIN_MAX_SECONDS = 120.0


class DatabaseStalled(Exception):
    """The database thread did not answer within ``DATABASE_WAIT_SECONDS``."""


class _Database:
    """The run's database work: results (group commit), claims ahead, lease renewals.

    With ``background`` (PostgreSQL outside a caller's transaction) it runs in a thread with
    its own connection, so it overlaps the SMTP conversations; otherwise every result and job
    runs at once in the caller's thread. If a write fails, the run stops: sending on without
    recording results would only make duplicates once the leases expire.
    """

    def __init__(self, *, worker_id: str, result: DrainResult, background: bool) -> None:
        self.worker_id = worker_id
        self.result = result
        self.error: BaseException | None = None
        self._cond = threading.Condition()
        self._pending: list[Outcome] = []
        self._unrecorded = 0
        self._jobs: deque[tuple[Callable[[], Any], Future]] = deque()
        self._closing = False
        self._thread: threading.Thread | None = None
        if background:
            self._thread = threading.Thread(
                target=self._work, name=f"queue-db-{worker_id}", daemon=True
            )
            self._thread.start()

    # --- called by the sending thread -------------------------------------------------------
    def add(self, outcome: Outcome) -> None:
        if self._thread is None:
            queue_record(worker_id=self.worker_id, outcomes=[outcome], result=self.result)
            return
        with self._cond:
            self._raise_if_failed()
            self._pending.append(outcome)
            self._unrecorded += 1
            self._cond.notify_all()

    def wait_unrecorded(self, *, at_most: int) -> None:
        """Return once at most ``at_most`` results are unwritten; raise if writing failed."""
        deadline = time.monotonic() + DATABASE_WAIT_SECONDS
        with self._cond:
            while self._unrecorded > at_most and self.error is None:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise DatabaseStalled(f"results not written after {DATABASE_WAIT_SECONDS} s")
                self._cond.wait(remaining)
            self._raise_if_failed()

    def submit(self, job: Callable[[], Any]) -> Future:
        """Run ``job`` in the database thread (at once without one). Always resolved."""
        future: Future = Future()
        if self._thread is None:
            self._run_job(job, future)
            return future
        with self._cond:
            if self.error is not None:
                future.set_exception(self.error)
            else:
                self._jobs.append((job, future))
                self._cond.notify_all()
        return future

    def wait(self, future: Future) -> Any:
        try:
            return future.result(timeout=DATABASE_WAIT_SECONDS)
        except TimeoutError as exc:
            raise DatabaseStalled(f"no answer after {DATABASE_WAIT_SECONDS} s") from exc

    def close(self) -> None:
        """Write what is pending, stop the thread; raise if a write failed."""
        if self._thread is not None:
            with self._cond:
                self._closing = True
                self._cond.notify_all()
            self._thread.join(timeout=DATABASE_WAIT_SECONDS)
            if self._thread.is_alive():
                raise DatabaseStalled(f"results not written after {DATABASE_WAIT_SECONDS} s")
            self._thread = None
        self._raise_if_failed()

    def _raise_if_failed(self) -> None:
        if self.error is not None:
            raise self.error

    # --- the database thread ----------------------------------------------------------------
    def _work(self) -> None:
        try:
            with connection.cursor() as cursor:
                cursor.execute("SET synchronous_commit TO off")
            while True:
                group: list[Outcome] = []
                job = future = None
                with self._cond:
                    while not self._pending and not self._jobs and not self._closing:
                        self._cond.wait()
                    if self._pending:  # results first: they bound the duplicates
                        group, self._pending = self._pending, []
                    elif self._jobs:
                        job, future = self._jobs.popleft()
                    else:
                        return  # closing, and nothing is left
                if group:
                    self._record(group)
                else:
                    self._run_job(job, future)
        finally:
            connection.close()  # this thread's own connection
            with self._cond:
                # Nothing may wait for ever on a job this thread will not run.
                while self._jobs:
                    _, future = self._jobs.popleft()
                    future.set_exception(self.error or DatabaseStalled("the run stopped"))
                self._cond.notify_all()

    def _record(self, group: list[Outcome]) -> None:
        try:
            if self.error is None:
                queue_record(worker_id=self.worker_id, outcomes=group, result=self.result)
        except BaseException as exc:
            logger.exception("writing queue results failed")
            self._fail(exc)
        finally:
            with self._cond:
                self._unrecorded -= len(group)
                self._cond.notify_all()

    def _run_job(self, job: Callable[[], Any], future: Future) -> None:
        if not future.set_running_or_notify_cancel():
            return
        if self.error is not None:
            future.set_exception(self.error)
            return
        try:
            future.set_result(job())
        except BaseException as exc:
            if self._thread is not None:
                logger.exception("a queue database job failed")
                self._fail(exc)
            future.set_exception(exc)

    def _fail(self, exc: BaseException) -> None:
        with self._cond:
            if self.error is None:
                self.error = exc
            self._cond.notify_all()


@dataclass
class _Run:
    """One drain run: its worker id, open connections and the lease it must keep alive."""

    worker_id: str
    database: _Database
    connections: dict[int, EmailBackend] = field(default_factory=dict)
    lease_renew_at: float = 0.0
    # Claimed items not yet handed to SMTP nor given an outcome: released if the run fails.
    untried: dict[int, Claimed] = field(default_factory=dict)

    def claimed(self, entries: list[Claimed]) -> None:
        self.untried.update((entry.item.pk, entry) for entry in entries)

    def add(self, outcome: Outcome) -> None:
        self.untried.pop(outcome.item_pk, None)
        self.database.add(outcome)

    def before_send(self, entry: Claimed) -> None:
        self._lease_keep()
        self.database.wait_unrecorded(at_most=UNRECORDED_MAX)
        self.untried.pop(entry.item.pk, None)  # from here on it may go out

    def _lease_keep(self) -> None:
        """Extend the lease of everything this run holds when half of it has passed."""
        if time.monotonic() < self.lease_renew_at:
            return
        lease = settings.MAILPASS_QUEUE_LEASE_SECONDS
        self.lease_renew_at = time.monotonic() + lease / 2
        worker_id = self.worker_id
        self.database.submit(
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

    Returns how many were sent, deferred (retry later or send limit), failed and suppressed.
    """
    result = DrainResult()
    worker_id = worker_id or worker_id_make()
    # Inside a caller's transaction (tests) another connection could not see its rows.
    background = (
        BACKGROUND_RECORD and connection.vendor == "postgresql" and not connection.in_atomic_block
    )
    database = _Database(worker_id=worker_id, result=result, background=background)
    run = _Run(worker_id=worker_id, database=database)
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
    upcoming: Future | None = None
    switch_interval = sys.getswitchinterval()
    if background:
        sys.setswitchinterval(min(switch_interval, SWITCH_INTERVAL))
    try:
        claimed = queue_claim(worker_id=worker_id, size=next_size(0))
        while claimed:
            run.claimed(claimed)
            handled += len(claimed)
            # The next chunk is claimed (in the database thread) while this one is sent, so
            # the sender never waits for a claim after the first one.
            size = next_size(handled)
            upcoming = (
                database.submit(functools.partial(queue_claim, worker_id=worker_id, size=size))
                if size
                else None
            )
            chunk_send(run, claimed)
            claimed = database.wait(upcoming) if upcoming is not None else []
            upcoming = None
    except BaseException as failure:
        if upcoming is not None:
            upcoming.cancel()  # not claimed yet: nothing stays leased for nothing
        try:
            run.close()
            database.close()  # the database thread is done: a claim it ran is known now
        except BaseException as exc:
            if exc is not failure:  # a failed write is raised by both
                logger.exception("closing a failed drain run failed")
        finally:
            sys.setswitchinterval(switch_interval)
        _untried_release(run, upcoming)
        raise
    try:
        run.close()
        database.close()
    finally:
        sys.setswitchinterval(switch_interval)
    return result


def _untried_release(run: _Run, upcoming: Future | None) -> None:
    """After a failure: make what the run claimed and never tried claimable at once."""
    untried = list(run.untried.values())
    if upcoming is not None and upcoming.done() and not upcoming.cancelled():
        if upcoming.exception() is None:
            untried += upcoming.result()
    if not untried:
        return
    try:
        released = queue_release(worker_id=run.worker_id, claimed=untried)
    except Exception:
        # The database may be what failed: the leases still bring the items back.
        logger.exception("releasing %d untried queue items failed", len(untried))
        return
    logger.warning("drain %s failed; released %d untried items", run.worker_id, released)
