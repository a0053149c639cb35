"""Drain: the loop of a run (claim, send, record).

Results are group-committed: the moment the previous write is done, everything pending is
written in one go (no fixed group size or delay). Before each SMTP transaction at most one
result may be unwritten, so when a worker process is killed at most two of its messages can
have been accepted by the server without their result written (the one in SMTP and the one
being written); only those can go out twice after its lease expires.

On PostgreSQL (outside a caller's transaction) ``SENT`` results go through a
``SentPipeline``: the write of message k-1 is handed to the server just before message k's
SMTP transaction and runs while it does; the sender reads its answer when the bound needs it,
before message k+1. Other outcomes (rare) are written at once over Django's connection. The
next chunk is claimed in a thread of its own while the current one is sent.

Every wait for the database is bounded (``DATABASE_WAIT_SECONDS``): a failing write stops the
run with its error instead of leaving it waiting. A run that stops on an error releases what
it claimed and never tried (the prefetched chunk, the rest of the current one): those items
are claimable at once instead of waiting for their lease. Items that reached SMTP, or whose
result may be unwritten, keep their lease: only its expiry can tell whether they went out.
"""

import functools
import logging
import time
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.core.mail.backends.smtp import EmailBackend
from django.db import connection
from django.utils import timezone

from mail.models import QueueItem, QueueItemStatus
from mail.queue.claim import Claimed, queue_claim, queue_release, worker_id_make
from mail.queue.record import (
    DatabaseStalled,
    DrainResult,
    Outcome,
    OutcomeKind,
    SentPipeline,
    queue_record,
)
from mail.queue.send import chunk_send

logger = logging.getLogger(__name__)

# Pipeline SENT results and claim ahead on PostgreSQL; off, every result is written at once
# (the benchmark compares both ways).
PIPELINE = True
# The longest the sender waits for the database (a write, a claim ahead, closing).
DATABASE_WAIT_SECONDS = 60.0
# A run stops claiming new chunks after this long, well inside Celery's soft time limit; the
# next run (beat, every few seconds) goes on.
DRAIN_MAX_SECONDS = 120.0


class _Results:
    """Where a run's outcomes go, and the duplicate bound (see the module docstring)."""

    def __init__(self, *, worker_id: str, result: DrainResult, pipelined: bool) -> None:
        self.worker_id = worker_id
        self.result = result
        self.pipelined = pipelined
        self.pending: list[Outcome] = []
        self.pipeline: SentPipeline | None = None  # opened with the first SENT outcome

    def add(self, outcome: Outcome) -> None:
        if not self.pipelined or outcome.kind is not OutcomeKind.SENT:
            queue_record(worker_id=self.worker_id, outcomes=[outcome], result=self.result)
            return
        if self.pipeline is None:
            self.pipeline = SentPipeline(
                worker_id=self.worker_id, result=self.result, timeout=DATABASE_WAIT_SECONDS
            )
        self.pending.append(outcome)
        self._advance(block=False)

    def before_send(self) -> None:
        """Return once at most one result is unwritten, the pending ones on their way."""
        pipeline = self.pipeline
        if pipeline is None:
            return
        if self.pending and pipeline.inflight:
            pipeline.collect(block=True)
        self._advance(block=False)
        if len(pipeline.inflight) > 1:
            pipeline.collect(block=True)

    def close(self) -> None:
        """Write what is pending (bounded waits), then close the pipeline's connection."""
        if self.pipeline is None:
            return
        try:
            while self.pending or self.pipeline.inflight:
                self._advance(block=True)
        finally:
            self.pipeline.close()

    def _advance(self, *, block: bool) -> None:
        """Read the answer to the write in flight if it is there; then send what is pending."""
        if self.pipeline.collect(block=block) and self.pending:
            outcomes, self.pending = self.pending, []
            self.pipeline.send(outcomes)


class _ClaimsAhead:
    """The next chunk's claim, in a thread (and database connection) of its own."""

    def __init__(self, *, threaded: bool) -> None:
        self._threaded = threaded
        self._executor: ThreadPoolExecutor | None = None  # started with the first claim

    def submit(self, job: Any) -> Future:
        if self._threaded:
            if self._executor is None:
                self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="queue-claim")
            return self._executor.submit(job)
        future: Future = Future()
        try:
            future.set_result(job())
        except Exception as exc:
            future.set_exception(exc)
        return future

    def wait(self, future: Future) -> list[Claimed]:
        try:
            return future.result(timeout=DATABASE_WAIT_SECONDS)
        except FutureTimeout as exc:
            raise DatabaseStalled(f"no claim after {DATABASE_WAIT_SECONDS} s") from exc

    def close(self) -> None:
        if self._executor is None:
            return
        # Looked up in that thread: its own connection (``connection.close`` here would be
        # this thread's).
        closed = self._executor.submit(lambda: connection.close())
        try:
            closed.result(timeout=DATABASE_WAIT_SECONDS)
        except FutureTimeout:
            logger.error("a queue claim did not end within %s s", DATABASE_WAIT_SECONDS)
        self._executor.shutdown(wait=False)


@dataclass
class _Run:
    """One drain run: its worker id, open connections and the lease it must keep alive."""

    worker_id: str
    results: _Results
    connections: dict[int, EmailBackend] = field(default_factory=dict)
    lease_renew_at: float = 0.0
    # Claimed items not yet handed to SMTP nor given an outcome: released if the run fails.
    untried: dict[int, Claimed] = field(default_factory=dict)

    def claimed(self, entries: list[Claimed]) -> None:
        self.untried.update((entry.item.pk, entry) for entry in entries)

    def add(self, outcome: Outcome) -> None:
        self.untried.pop(outcome.item_pk, None)
        self.results.add(outcome)

    def before_send(self, entry: Claimed) -> None:
        self._lease_keep()
        self.results.before_send()
        self.untried.pop(entry.item.pk, None)  # from here on it may go out

    def _lease_keep(self) -> None:
        """Extend the lease of everything this run holds (the chunk claimed ahead too) when
        half of it has passed."""
        if time.monotonic() < self.lease_renew_at:
            return
        lease = settings.MAILPASS_QUEUE_LEASE_SECONDS
        self.lease_renew_at = time.monotonic() + lease / 2
        QueueItem.objects.filter(locked_by=self.worker_id, status=QueueItemStatus.SENDING).update(
            locked_until=timezone.now() + timedelta(seconds=lease)
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
    pipelined = PIPELINE and connection.vendor == "postgresql" and not connection.in_atomic_block
    results = _Results(worker_id=worker_id, result=result, pipelined=pipelined)
    claims = _ClaimsAhead(threaded=pipelined)
    run = _Run(worker_id=worker_id, results=results)
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
    try:
        claimed = queue_claim(worker_id=worker_id, size=next_size(0))
        while claimed:
            run.claimed(claimed)
            handled += len(claimed)
            # The next chunk is claimed (in its own thread) while this one is sent, so the
            # sender never waits for a claim after the first one.
            size = next_size(handled)
            upcoming = (
                claims.submit(functools.partial(queue_claim, worker_id=worker_id, size=size))
                if size
                else None
            )
            chunk_send(run, claimed)
            claimed = claims.wait(upcoming) if upcoming is not None else []
            upcoming = None
    except BaseException as failure:
        if upcoming is not None:
            upcoming.cancel()  # not claimed yet: nothing stays leased for nothing
        _close(run, claims, failure)
        _untried_release(run, upcoming)
        raise
    _close(run, claims)
    return result


def _close(run: _Run, claims: _ClaimsAhead, failure: BaseException | None = None) -> None:
    """Close SMTP, write what is pending, end the claim thread (a claim it ran is known
    afterwards). After a failure, an error here is logged and the failure raised."""
    try:
        run.close()
        try:
            run.results.close()
        finally:
            claims.close()
    except BaseException as exc:
        if failure is None:
            raise
        if exc is not failure:  # a failed write can be raised by both
            logger.exception("closing a failed drain run failed")


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
