"""The batch queue (API.md section 4): enqueue messages, and drain them safely with many workers.

Plain functions, no Celery inside: ``mail.tasks`` and ``process_mail_queue`` both call
``queue_drain``. The rules it keeps (SENDING-NOTES.md):

- Claims are ``SELECT ... FOR UPDATE SKIP LOCKED`` plus a lease (``locked_by``/``locked_until``)
  in a short transaction; an item whose worker died is claimable again once its lease expires.
- SMTP happens outside any transaction, over one connection per provider per run.
- Results are written fenced by ``locked_by = me AND status = 'sending'``: a worker that
  outlived its lease cannot overwrite what another worker did. They are written in small groups
  (at most ``FINALIZE_MAX_MESSAGES`` or ``FINALIZE_MAX_SECONDS`` after the SMTP answer): one
  transaction per message would cost more than the SMTP conversation itself. A crash can thus
  send again the few messages whose result was not yet written (delivery is at-least-once; the
  stable Message-ID lets receivers drop a duplicate).
- Retry times live in PostgreSQL (``next_attempt_at``), never in a Celery countdown.
"""

import functools
import logging
import os
import queue
import random
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from concurrent.futures import Future
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db import connection, transaction
from django.db.models import Case, F, Q, Value, When
from django.db.models.functions import Coalesce
from django.utils import timezone

from mail.composer import email_build
from mail.delivery import DeliveryError, delivery_open, delivery_send
from mail.limits import send_limit_reserve
from mail.models import (
    EventType,
    Message,
    MessageEvent,
    MessageStatus,
    QueueItem,
    QueueItemStatus,
)
from mail.services import TEST_KEY_EVENT_DETAIL, message_prepare
from mailpass.errors import NoSmtpProvider, SendLimitExceeded, ValidationFailed
from providers.models import SmtpProvider
from providers.selectors import provider_get_default
from providers.services import provider_connection

logger = logging.getLogger(__name__)

# Results are written at the latest after this many messages or seconds (see module docstring).
FINALIZE_MAX_MESSAGES = 50
FINALIZE_MAX_SECONDS = 0.5
# Write results in a thread of their own on PostgreSQL (see _Finalizer); the benchmark
# compares both ways.
BACKGROUND_FINALIZE = True
# A run stops claiming new chunks after this long, well inside Celery's soft time limit; the
# next run (beat, every few seconds) goes on.
DRAIN_MAX_SECONDS = 120.0
# Retry delays grow by this factor: with the default base of 60 s the 5 attempts span
# 60 + 180 + 540 + 1620 s (about 40 minutes) plus up to 50 % jitter: about an hour.
RETRY_FACTOR = 3


# --- enqueue --------------------------------------------------------------------------------


@dataclass
class BatchItem:
    """One item of a batch request: validated ``data`` or an ``error``; then its queue ids."""

    index: int
    to: str | None
    data: dict[str, Any] | None = None
    error: dict[str, Any] | None = None
    queue_id: int | None = None
    message_id: str | None = None

    @property
    def status(self) -> str:
        return "failed" if self.error is not None else "queued"


def batch_enqueue(
    *, account: AbstractBaseUser, items: list[BatchItem], is_test: bool
) -> list[BatchItem]:
    """Queue the valid items of a batch through the account's default provider.

    Raises ``NoSmtpProvider`` (nothing queued). An item without any sender address fails on
    its own. All valid items are written in one transaction.
    """
    provider = provider_get_default(account=account)
    if provider is None:
        raise NoSmtpProvider()
    queued: list[tuple[BatchItem, Message]] = []
    for item in items:
        if item.error is not None:
            continue
        try:
            message = message_prepare(
                account=account,
                provider=provider,
                data=item.data,
                is_test=is_test,
                status=MessageStatus.QUEUED,
            )
        except ValidationFailed as exc:
            item.error = {"code": exc.code, "message": exc.message, "details": exc.details}
            continue
        queued.append((item, message))
    queue_items = queue_enqueue(messages=[m for _, m in queued], provider=provider)
    for (item, message), queue_item in zip(queued, queue_items, strict=True):
        item.queue_id, item.message_id = queue_item.pk, message.message_id
    return items


def queue_enqueue(*, messages: list[Message], provider: SmtpProvider) -> list[QueueItem]:
    """Store unsaved messages as ``queued``, each with a queue item and a ``queued`` event.

    One transaction for all of them: either every message is queued or none. A drain is
    kicked after COMMIT (it only cuts latency; the periodic drain guarantees progress).
    """
    if not messages:
        return []
    now = timezone.now()
    for message in messages:
        message.status = MessageStatus.QUEUED
        message.provider = provider
    with transaction.atomic():
        Message.objects.bulk_create(messages)
        if connection.vendor == "postgresql":
            items = _items_insert(messages=messages, provider=provider, now=now)
        else:
            items = QueueItem.objects.bulk_create(
                [
                    QueueItem(
                        message=message,
                        account_id=message.account_id,
                        provider=provider,
                        next_attempt_at=now,
                    )
                    for message in messages
                ]
            )
            MessageEvent.objects.bulk_create(
                [MessageEvent(message=message, event_type=EventType.QUEUED) for message in messages]
            )
        count = len(messages)
        transaction.on_commit(lambda: queue_drain_kick(limit=count))
    return items


# Queue items and "queued" events of stored messages in one round trip on PostgreSQL: the
# enqueue rate is dominated by building and quoting rows, and these two need only the ids.
_ITEMS_INSERT_SQL = """
WITH new AS (
    SELECT * FROM unnest(%(messages)s::bigint[], %(accounts)s::integer[]) AS n(message, account)
), items AS (
    INSERT INTO mail_queueitem (message_id, account_id, provider_id, status, attempts,
                                next_attempt_at, locked_by, last_error, created_at, updated_at)
    SELECT message, account, %(provider)s, 'queued', 0, %(now)s, '', '', %(now)s, %(now)s
    FROM new
    RETURNING id, message_id
), events AS (
    INSERT INTO mail_messageevent (message_id, event_type, ip_address, user_agent, url, detail,
                                   created_at)
    SELECT message, 'queued', NULL, '', '', '', %(now)s FROM new
)
SELECT id, message_id FROM items
"""


def _items_insert(
    *, messages: list[Message], provider: SmtpProvider, now: datetime
) -> list[QueueItem]:
    with connection.cursor() as cursor:
        cursor.execute(
            _ITEMS_INSERT_SQL,
            {
                "messages": [m.pk for m in messages],
                "accounts": [m.account_id for m in messages],
                "provider": provider.pk,
                "now": now,
            },
        )
        item_pks = dict((message_pk, pk) for pk, message_pk in cursor.fetchall())
    return [
        QueueItem(
            pk=item_pks[m.pk],
            message=m,
            account_id=m.account_id,
            provider=provider,
            status=QueueItemStatus.QUEUED,
            next_attempt_at=now,
            created_at=now,
            updated_at=now,
        )
        for m in messages
    ]


def queue_drain_kick(*, limit: int | None = None) -> None:
    """Ask a worker to drain now (in eager mode: drain here). Never fails the caller."""
    from mail.tasks import queue_drain_task  # the service layer knows tasks only here

    try:
        queue_drain_task.delay(limit=limit)
    except Exception:
        # The rows are committed; the periodic drain will send them.
        logger.warning("could not kick a queue drain; the periodic drain will send", exc_info=True)


def queue_requeue(*, item_ids: Iterable[int]) -> int:
    """Put failed items (and their messages) back to ``queued``, due now, attempts reset."""
    now = timezone.now()
    with transaction.atomic():
        items = list(
            QueueItem.objects.select_for_update()
            .filter(pk__in=list(item_ids), status=QueueItemStatus.FAILED)
            .values_list("pk", "message_id")
        )
        item_pks = [pk for pk, _ in items]
        message_pks = [message_pk for _, message_pk in items]
        QueueItem.objects.filter(pk__in=item_pks).update(
            status=QueueItemStatus.QUEUED,
            attempts=0,
            next_attempt_at=now,
            locked_by="",
            locked_until=None,
            last_error="",
            updated_at=now,
        )
        Message.objects.filter(pk__in=message_pks).update(
            status=MessageStatus.QUEUED, attempts=0, error_message="", updated_at=now
        )
        MessageEvent.objects.bulk_create(
            [
                MessageEvent(message_id=pk, event_type=EventType.QUEUED, detail="requeued")
                for pk in message_pks
            ]
        )
    return len(items)


# --- drain ----------------------------------------------------------------------------------


@dataclass
class DrainResult:
    sent: int = 0
    deferred: int = 0
    failed: int = 0

    @property
    def total(self) -> int:
        return self.sent + self.deferred + self.failed


# What happened to one claimed item, before it is written.
SENT, TEMPORARY, PERMANENT, LIMITED = "sent", "temporary", "permanent", "limited"


@dataclass
class _Outcome:
    item_pk: int
    message_pk: int
    kind: str
    error: str = ""
    detail: str = ""
    retry_at: datetime | None = None  # LIMITED: when the window frees
    is_test: bool = False


@dataclass
class _Claimed:
    item: QueueItem
    message: Message


def worker_id_make() -> str:
    """Unique per drain run (several runs may share a process in eager mode)."""
    return f"{socket.gethostname()[:32]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def retry_delay(*, attempts: int) -> timedelta:
    """Exponential backoff with jitter after the ``attempts``-th failed attempt."""
    base = settings.MAILPASS_QUEUE_RETRY_BASE_SECONDS * RETRY_FACTOR ** max(0, attempts - 1)
    return timedelta(seconds=base * random.uniform(1.0, 1.5))


# PostgreSQL claims in one statement (one round trip): lock due items and items whose lease
# expired (SKIP LOCKED: concurrent drainers take different rows), lease them, mark their
# messages "sending". A reclaimed item's dead attempt counts, so a message that kills workers
# cannot loop forever.
_CLAIM_SQL = """
WITH expired AS (
    SELECT id FROM mail_queueitem
    WHERE status = 'sending' AND locked_until < %(now)s
    ORDER BY locked_until LIMIT %(size)s FOR UPDATE SKIP LOCKED
), due AS (
    SELECT id FROM mail_queueitem
    WHERE status = 'queued' AND next_attempt_at <= %(now)s
    ORDER BY next_attempt_at LIMIT %(size)s FOR UPDATE SKIP LOCKED
), picked AS (
    SELECT id, true AS reclaimed FROM expired
    UNION ALL SELECT id, false FROM due
    LIMIT %(size)s
), items AS (
    UPDATE mail_queueitem q
    SET status = 'sending', locked_by = %(me)s, locked_until = %(until)s, updated_at = %(now)s,
        attempts = q.attempts + CASE WHEN picked.reclaimed THEN 1 ELSE 0 END
    FROM picked WHERE q.id = picked.id
    RETURNING q.id, q.message_id, q.provider_id, q.account_id, q.attempts, picked.reclaimed
), messages AS (
    UPDATE mail_message m
    SET status = 'sending', updated_at = %(now)s,
        attempts = m.attempts + CASE WHEN items.reclaimed THEN 1 ELSE 0 END
    FROM items WHERE m.id = items.message_id
)
SELECT id, message_id, provider_id, account_id, attempts FROM items ORDER BY id
"""


def queue_claim(*, worker_id: str, size: int) -> list[_Claimed]:
    """Lease up to ``size`` due items (and items whose lease expired) to this worker."""
    now = timezone.now()
    lease_until = now + timedelta(seconds=settings.MAILPASS_QUEUE_LEASE_SECONDS)
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(
                _CLAIM_SQL,
                {"now": now, "size": size, "me": worker_id, "until": lease_until},
            )
            items = [
                QueueItem(
                    pk=pk,
                    message_id=message_pk,
                    provider_id=provider_pk,
                    account_id=account_pk,
                    attempts=attempts,
                    status=QueueItemStatus.SENDING,
                    locked_by=worker_id,
                    locked_until=lease_until,
                )
                for pk, message_pk, provider_pk, account_pk, attempts in cursor.fetchall()
            ]
        messages = Message.objects.in_bulk([item.message_id for item in items])
        return [_Claimed(item=item, message=messages[item.message_id]) for item in items]
    return _claim_portable(worker_id=worker_id, size=size, now=now, lease_until=lease_until)


def _claim_portable(
    *, worker_id: str, size: int, now: datetime, lease_until: datetime
) -> list[_Claimed]:
    """The same claim with the ORM, for the embedded SQLite default (one writer at a time)."""
    with transaction.atomic():
        # A worker that died left items "sending" with an expired lease: they go first.
        expired = list(
            QueueItem.objects.select_for_update(skip_locked=True)
            .filter(status=QueueItemStatus.SENDING, locked_until__lt=now)
            .order_by("locked_until")
            .values_list("pk", flat=True)[:size]
        )
        due = list(
            QueueItem.objects.select_for_update(skip_locked=True)
            .filter(status=QueueItemStatus.QUEUED, next_attempt_at__lte=now)
            .order_by("next_attempt_at")
            .values_list("pk", flat=True)[: size - len(expired)]
        )
        if not expired and not due:
            return []
        claimable = Q(status=QueueItemStatus.QUEUED, next_attempt_at__lte=now) | Q(
            status=QueueItemStatus.SENDING, locked_until__lt=now
        )
        # The fence in WHERE matters where FOR UPDATE does not exist (SQLite).
        QueueItem.objects.filter(Q(pk__in=expired + due) & claimable).update(
            status=QueueItemStatus.SENDING,
            locked_by=worker_id,
            locked_until=lease_until,
            updated_at=now,
        )
        items = list(
            QueueItem.objects.filter(
                pk__in=expired + due, locked_by=worker_id, status=QueueItemStatus.SENDING
            )
        )
        message_pks = [item.message_id for item in items]
        Message.objects.filter(pk__in=message_pks).update(
            status=MessageStatus.SENDING, updated_at=now
        )
        if expired:
            # The dead worker's attempt counts: a message that kills workers must not loop.
            expired_pks = set(expired)
            reclaimed = [item for item in items if item.pk in expired_pks]
            QueueItem.objects.filter(pk__in=[i.pk for i in reclaimed]).update(
                attempts=F("attempts") + 1
            )
            Message.objects.filter(pk__in=[i.message_id for i in reclaimed]).update(
                attempts=F("attempts") + 1
            )
            for item in reclaimed:
                item.attempts += 1
    messages = Message.objects.in_bulk(message_pks)
    return [_Claimed(item=item, message=messages[item.message_id]) for item in items]


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
        self.pending: list[_Outcome] = []
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

    def add(self, outcome: _Outcome) -> None:
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
                lambda: queue_finalize(
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


# The common case, every message of a group sent, in one statement on PostgreSQL: the fence
# (locked_by = me AND status = 'sending') is in the UPDATE itself, row by row.
_SENT_SQL = """
WITH done AS (
    SELECT * FROM unnest(%(items)s::bigint[], %(details)s::text[]) AS d(item_id, detail)
), items AS (
    UPDATE mail_queueitem q
    SET status = 'sent', attempts = q.attempts + 1, locked_by = '', locked_until = NULL,
        last_error = '', updated_at = %(now)s
    FROM done
    WHERE q.id = done.item_id AND q.locked_by = %(me)s AND q.status = 'sending'
    RETURNING q.message_id, done.detail
), messages AS (
    UPDATE mail_message m
    SET status = 'sent', sent_at = %(now)s, attempts = m.attempts + 1, error_message = '',
        limit_counted_at = CASE WHEN m.is_test THEN NULL
                                ELSE COALESCE(m.limit_counted_at, %(now)s) END,
        updated_at = %(now)s
    FROM items WHERE m.id = items.message_id
)
INSERT INTO mail_messageevent (message_id, event_type, ip_address, user_agent, url, detail,
                               created_at)
SELECT message_id, 'sent', NULL, '', '', detail, %(now)s FROM items
"""


def queue_finalize(*, worker_id: str, outcomes: list[_Outcome], result: DrainResult) -> None:
    """Write outcomes of items this worker still holds; drop the rest (another owns them)."""
    now = timezone.now()
    if connection.vendor == "postgresql":
        sent = [o for o in outcomes if o.kind == SENT]
        if sent:
            with connection.cursor() as cursor:
                cursor.execute(
                    _SENT_SQL,
                    {
                        "items": [o.item_pk for o in sent],
                        "details": [o.detail for o in sent],
                        "me": worker_id,
                        "now": now,
                    },
                )
                written = cursor.rowcount
            result.sent += written
            if written < len(sent):
                logger.warning(
                    "worker %s lost the lease of %d queue items; their results are dropped",
                    worker_id,
                    len(sent) - written,
                )
        outcomes = [o for o in outcomes if o.kind != SENT]
        if not outcomes:
            return
    _finalize_portable(worker_id=worker_id, outcomes=outcomes, result=result, now=now)


def _finalize_portable(
    *, worker_id: str, outcomes: list[_Outcome], result: DrainResult, now: datetime
) -> None:
    """Retries, failures and deferrals (and every outcome off PostgreSQL) with the ORM."""
    max_attempts = settings.MAILPASS_QUEUE_MAX_ATTEMPTS
    with transaction.atomic():
        # The fence: lock exactly the rows still leased to us; later updates go by pk.
        held = dict(
            QueueItem.objects.select_for_update()
            .filter(
                pk__in=[o.item_pk for o in outcomes],
                locked_by=worker_id,
                status=QueueItemStatus.SENDING,
            )
            .values_list("pk", "attempts")
        )
        lost = [o for o in outcomes if o.item_pk not in held]
        if lost:
            logger.warning(
                "worker %s lost the lease of %d queue items; their results are dropped",
                worker_id,
                len(lost),
            )
        sent: list[_Outcome] = []
        events: list[MessageEvent] = []
        for outcome in outcomes:
            if outcome.item_pk not in held:
                continue
            attempts = held[outcome.item_pk] + (0 if outcome.kind == LIMITED else 1)
            kind = outcome.kind
            if kind == TEMPORARY and attempts >= max_attempts:
                kind = PERMANENT
                outcome.error = f"gave up after {attempts} attempts: {outcome.error}"
            if kind == SENT:
                sent.append(outcome)
                events.append(_event(outcome, EventType.SENT, outcome.detail))
                result.sent += 1
            elif kind == PERMANENT:
                _item_update(
                    outcome, QueueItemStatus.FAILED, attempts, now, last_error=outcome.error
                )
                Message.objects.filter(pk=outcome.message_pk).update(
                    status=MessageStatus.FAILED,
                    error_message=outcome.error,
                    attempts=attempts,
                    limit_counted_at=None,  # a failed message gives its slot back
                    updated_at=now,
                )
                events.append(_event(outcome, EventType.FAILED, outcome.error))
                result.failed += 1
            else:
                if kind == LIMITED:
                    retry_at = outcome.retry_at or now
                    detail = f"{outcome.error}; next attempt at {_iso(retry_at)}"
                else:
                    retry_at = now + retry_delay(attempts=attempts)
                    detail = (
                        f"attempt {attempts} failed: {outcome.error}; retry at {_iso(retry_at)}"
                    )
                _item_update(
                    outcome,
                    QueueItemStatus.QUEUED,
                    attempts,
                    now,
                    last_error=outcome.error,
                    next_attempt_at=retry_at,
                )
                Message.objects.filter(pk=outcome.message_pk).update(
                    status=MessageStatus.QUEUED,
                    attempts=attempts,
                    limit_counted_at=None,
                    updated_at=now,
                )
                events.append(_event(outcome, EventType.DEFERRED, detail))
                result.deferred += 1
        if sent:
            _sent_write(sent, now)
        MessageEvent.objects.bulk_create(events)


def _sent_write(sent: list[_Outcome], now: datetime) -> None:
    """The rows are locked by the caller's fence, so updates by primary key are safe."""
    QueueItem.objects.filter(pk__in=[o.item_pk for o in sent]).update(
        status=QueueItemStatus.SENT,
        attempts=F("attempts") + 1,
        locked_by="",
        locked_until=None,
        last_error="",
        updated_at=now,
    )
    Message.objects.filter(pk__in=[o.message_pk for o in sent]).update(
        status=MessageStatus.SENT,
        sent_at=now,
        attempts=F("attempts") + 1,
        error_message="",
        # Every live message takes a send-limit slot, limited provider or not, so a limit
        # set later counts what was already sent in its window.
        limit_counted_at=Case(
            When(is_test=True, then=Value(None)),
            default=Coalesce(F("limit_counted_at"), Value(now)),
        ),
        updated_at=now,
    )


def _item_update(
    outcome: _Outcome,
    status: str,
    attempts: int,
    now: datetime,
    *,
    last_error: str,
    next_attempt_at: datetime | None = None,
) -> None:
    values = {
        "status": status,
        "attempts": attempts,
        "locked_by": "",
        "locked_until": None,
        "last_error": last_error,
        "updated_at": now,
    }
    if next_attempt_at is not None:
        values["next_attempt_at"] = next_attempt_at
    QueueItem.objects.filter(pk=outcome.item_pk).update(**values)


def _event(outcome: _Outcome, event_type: str, detail: str) -> MessageEvent:
    return MessageEvent(message_id=outcome.message_pk, event_type=event_type, detail=detail)


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class _Run:
    """One drain run: its worker id, open connections and the lease it must keep alive."""

    worker_id: str
    finalizer: _Finalizer
    connections: dict[int, object] = field(default_factory=dict)
    lease_renew_at: float = 0.0

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
            _chunk_send(run, claimed)
            run.finalizer.flush()
            claimed = upcoming.result()
    finally:
        run.close()
        run.finalizer.close()
    return result


def _chunk_send(run: _Run, claimed: list[_Claimed]) -> None:
    groups: dict[int | None, list[_Claimed]] = {}
    for entry in claimed:
        if entry.message.is_test:
            # Test keys (API.md s.7): stored and marked sent, never SMTP, never a limit slot.
            run.finalizer.add(_outcome(entry, SENT, detail=TEST_KEY_EVENT_DETAIL))
            continue
        groups.setdefault(entry.item.provider_id, []).append(entry)
    providers = SmtpProvider.objects.in_bulk([pk for pk in groups if pk is not None])
    for provider_pk, entries in groups.items():
        provider = providers.get(provider_pk)
        if provider is None or not provider.is_active:
            # Deleted or switched off since it was queued: the account's current default.
            provider = provider_get_default(account=entries[0].item.account_id)
        if provider is None:
            for entry in entries:
                run.finalizer.add(
                    _outcome(entry, TEMPORARY, error="no active default SMTP provider")
                )
            continue
        _provider_send(run, provider, entries)


def _provider_send(run: _Run, provider: SmtpProvider, entries: list[_Claimed]) -> None:
    smtp = run.connections.get(provider.pk)
    if smtp is None:
        smtp = run.connections[provider.pk] = provider_connection(provider)
    limited = provider.hourly_limit is not None or provider.daily_limit is not None
    for index, entry in enumerate(entries):
        run.lease_keep()
        if limited:
            try:
                with transaction.atomic():
                    send_limit_reserve(provider=provider)
                    Message.objects.filter(pk=entry.message.pk).update(
                        limit_counted_at=timezone.now()
                    )
            except SendLimitExceeded as exc:
                # The window is full: this and the provider's remaining items wait for it to
                # free. Deferred, never failed, and not an attempt.
                retry_at = datetime.fromisoformat(exc.details["reset_at"])
                for rest in entries[index:]:
                    run.finalizer.add(
                        _outcome(
                            rest, LIMITED, error=f"send limit: {exc.message}", retry_at=retry_at
                        )
                    )
                return
        fresh = smtp.connection is None
        try:
            if fresh:
                delivery_open(smtp)
            delivery = delivery_send(smtp, email_build(entry.message))
        except DeliveryError as exc:
            kind = PERMANENT if exc.permanent else TEMPORARY
            run.finalizer.add(_outcome(entry, kind, error=exc.message))
            if kind == TEMPORARY and fresh and exc.smtp_code is None:
                # The server cannot be reached (refused, timeout, dropped at once): the rest
                # of this provider's items wait too instead of each trying again now.
                for rest in entries[index + 1 :]:
                    run.finalizer.add(_outcome(rest, TEMPORARY, error=exc.message))
                return
            continue
        except Exception as exc:
            # Not an SMTP answer (a bug, a broken stored message): fail it, keep draining.
            logger.exception("sending queued message %s failed", entry.message.message_id)
            run.finalizer.add(
                _outcome(entry, PERMANENT, error=f"internal error: {exc.__class__.__name__}")
            )
            continue
        detail = "; ".join(f"refused {rcpt}: {reply}" for rcpt, reply in delivery.refused.items())
        run.finalizer.add(_outcome(entry, SENT, detail=detail))


def _outcome(entry: _Claimed, kind: str, **values) -> _Outcome:
    return _Outcome(
        item_pk=entry.item.pk,
        message_pk=entry.message.pk,
        kind=kind,
        is_test=entry.message.is_test,
        **values,
    )
