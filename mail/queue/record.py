"""Record: write what happened to claimed items, fenced by the lease.

Every write is fenced by ``locked_by = me AND status = 'sending'``: a worker that outlived its
lease cannot overwrite what another worker did; its results are dropped.

The attempt was counted when the item was claimed; a full send-limit window gives it back
(waiting for a window is not an attempt). The row records the provider that really sent.

On PostgreSQL the common outcome, ``SENT``, is written in one statement (one round trip: it
runs once per message or so, see ``drain``); every other outcome, and every outcome on SQLite,
goes through ``_record_orm``. Both are run by the suite (on PostgreSQL and on SQLite).

A drain run on PostgreSQL writes its ``SENT`` outcomes through ``SentPipeline``: that statement,
prepared once on a connection of the run's own, handed to the server without waiting for it
(libpq's asynchronous calls), so PostgreSQL runs and commits it while the sender talks SMTP;
the sender reads the answer when the duplicate bound needs it. No thread, no lock: a thread
that wrote results cost more in handing them over (the GIL, waking it) than it saved.
"""

import enum
import logging
import random
import select
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import psycopg
from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, DatabaseError, connection, connections, transaction
from django.db.models import Case, F, Value, When
from django.db.models.functions import Coalesce
from django.utils import timezone
from psycopg import pq
from psycopg.adapt import PyFormat, Transformer

from mail.models import EventType, Message, MessageEvent, MessageStatus, QueueItem, QueueItemStatus

logger = logging.getLogger(__name__)

# Retry delays grow by this factor: with the default base of 60 s the 5 attempts span
# 60 + 180 + 540 + 1620 s (about 40 minutes) plus up to 50 % jitter: about an hour.
RETRY_FACTOR = 3


@dataclass
class DrainResult:
    sent: int = 0
    deferred: int = 0
    failed: int = 0
    suppressed: int = 0

    @property
    def total(self) -> int:
        return self.sent + self.deferred + self.failed + self.suppressed


class OutcomeKind(enum.Enum):
    """What happened to one claimed item, before it is written."""

    SENT = "sent"  # the server accepted it
    TEMPORARY = "temporary"  # not sent; retry later (failed once the attempts are used up)
    PERMANENT = "permanent"  # a message-level 5xx: failed for good
    LIMITED = "limited"  # the provider's send limit is full: wait, not an attempt
    SUPPRESSED = "suppressed"  # a check before SMTP ended it: never sent


@dataclass
class Outcome:
    item_pk: int
    message_pk: int
    kind: OutcomeKind
    error: str = ""
    detail: str = ""
    retry_at: datetime | None = None  # LIMITED: when the window frees
    is_test: bool = False
    # The provider that sent (or was to send) it; None keeps the row's.
    provider_pk: int | None = None
    provider_message_id: str = ""  # SENT: the provider's id from its 250 reply (s.16.1)
    # Recipients the server refused at RCPT: address -> reply (API.md s.16.3).
    refused: dict[str, str] = field(default_factory=dict)


def retry_delay(*, attempts: int) -> timedelta:
    """Exponential backoff with jitter after the ``attempts``-th failed attempt."""
    base = settings.MAILPASS_QUEUE_RETRY_BASE_SECONDS * RETRY_FACTOR ** max(0, attempts - 1)
    return timedelta(seconds=base * random.uniform(1.0, 1.5))


# SENT outcomes in one statement on PostgreSQL: the fence (locked_by = me AND status =
# 'sending') is in the UPDATE itself, row by row.
_SENT_SQL = """
WITH done AS (
    SELECT * FROM unnest(%(items)s::bigint[], %(details)s::text[], %(providers)s::bigint[],
                         %(provider_message_ids)s::text[])
        AS d(item_id, detail, provider_id, provider_message_id)
), items AS (
    UPDATE mail_queueitem q
    SET status = 'sent', locked_by = '', locked_until = NULL, last_error = '',
        provider_id = COALESCE(done.provider_id, q.provider_id), updated_at = %(now)s::timestamptz
    FROM done
    WHERE q.id = done.item_id AND q.locked_by = %(me)s::text AND q.status = 'sending'
    RETURNING q.message_id, done.detail, done.provider_id, done.provider_message_id
), messages AS (
    UPDATE mail_message m
    SET status = 'sent', sent_at = %(now)s::timestamptz, error_message = '',
        provider_id = COALESCE(items.provider_id, m.provider_id),
        provider_message_id = items.provider_message_id,
        limit_counted_at = CASE WHEN m.is_test THEN NULL
                                ELSE COALESCE(m.limit_counted_at, %(now)s::timestamptz) END,
        updated_at = %(now)s::timestamptz
    FROM items WHERE m.id = items.message_id
)
INSERT INTO mail_messageevent (message_id, event_type, ip_address, user_agent, url, detail,
                               recipient, external_id, created_at)
SELECT message_id, 'sent', NULL, '', '', detail, '', '', %(now)s::timestamptz FROM items
"""
# The same statement with numbered parameters, for a server-side prepared statement.
_SENT_PARAMS = ("items", "details", "providers", "provider_message_ids", "me", "now")
_SENT_SQL_NUMBERED = _SENT_SQL
for _number, _name in enumerate(_SENT_PARAMS, start=1):
    _SENT_SQL_NUMBERED = _SENT_SQL_NUMBERED.replace(f"%({_name})s", f"${_number}")
_SENT_STATEMENT = b"mailpass_queue_sent"


def _sent_params(*, worker_id: str, sent: list["Outcome"], now: datetime) -> dict:
    return {
        "items": [o.item_pk for o in sent],
        "details": [o.detail for o in sent],
        "providers": [o.provider_pk for o in sent],
        "provider_message_ids": [o.provider_message_id for o in sent],
        "me": worker_id,
        "now": now,
    }


def queue_record(*, worker_id: str, outcomes: list[Outcome], result: DrainResult) -> None:
    """Write outcomes of items this worker still holds; drop the rest (another owns them)."""
    _outcomes_write(worker_id=worker_id, outcomes=outcomes, result=result)
    refusals_record(outcomes)


def refusals_record(outcomes: list[Outcome]) -> None:
    """After their status is written: what the server refused at RCPT, for live messages."""
    refusals = [o for o in outcomes if o.refused and not o.is_test]
    if refusals:
        # Rare (a recipient refused at RCPT): bounced events and 5.1.x suppressions, after
        # the status is written so a refused "to" can turn the message "bounced".
        from suppressions.services import message_rcpt_refusals_record

        messages = Message.objects.in_bulk([o.message_pk for o in refusals])
        for outcome in refusals:
            message = messages.get(outcome.message_pk)
            if message is not None:
                message_rcpt_refusals_record(message=message, refused=outcome.refused)


def _outcomes_write(*, worker_id: str, outcomes: list[Outcome], result: DrainResult) -> None:
    if not outcomes:
        return
    now = timezone.now()
    if connection.vendor == "postgresql":
        sent = [o for o in outcomes if o.kind is OutcomeKind.SENT]
        if sent:
            with connection.cursor() as cursor:
                cursor.execute(_SENT_SQL, _sent_params(worker_id=worker_id, sent=sent, now=now))
                written = cursor.rowcount
            result.sent += written
            _lost_log(worker_id, len(sent) - written)
            outcomes = [o for o in outcomes if o.kind is not OutcomeKind.SENT]
            if not outcomes:
                return
    _record_orm(worker_id=worker_id, outcomes=outcomes, result=result, now=now)


class DatabaseStalled(DatabaseError):
    """The database did not answer within the wait a drain allows."""


class SentPipeline:
    """``SENT`` outcomes of one drain run, written with at most one statement in flight.

    ``send`` hands the statement to PostgreSQL and returns at once; the server runs and
    commits it (autocommit: its own transaction) whether or not anyone reads the answer.
    ``collect`` reads the answer: it returns False while the server is not done (unless
    ``block``), else counts what was written and records RCPT refusals. A failed write raises
    ``DatabaseError``; a wait longer than ``timeout`` raises ``DatabaseStalled``.
    """

    def __init__(self, *, worker_id: str, result: DrainResult, timeout: float) -> None:
        self.worker_id = worker_id
        self.result = result
        self.timeout = timeout
        self.inflight: list[Outcome] = []
        self._written = 0
        self._error = ""
        # A connection of its own: the run's ORM work goes on over Django's connection.
        self._db = connections.create_connection(DEFAULT_DB_ALIAS)
        self._db.ensure_connection()
        raw = self._db.connection
        raw.execute("SET synchronous_commit TO off")
        self._pgconn = raw.pgconn
        self._transformer = Transformer(raw)
        self._readable = select.poll()
        self._readable.register(self._pgconn.socket, select.POLLIN)
        prepared = self._pgconn.prepare(_SENT_STATEMENT, _SENT_SQL_NUMBERED.encode())
        if prepared.status != pq.ExecStatus.COMMAND_OK:
            raise DatabaseError(_error_text(prepared))

    def send(self, outcomes: list[Outcome]) -> None:
        if self.inflight:
            raise RuntimeError("one statement in flight at a time: collect it first")
        params = _sent_params(worker_id=self.worker_id, sent=outcomes, now=timezone.now())
        values = self._transformer.dump_sequence(
            [params[name] for name in _SENT_PARAMS], [PyFormat.TEXT] * len(_SENT_PARAMS)
        )
        try:
            self._pgconn.send_query_prepared(_SENT_STATEMENT, values)
        except psycopg.Error as exc:  # the connection is gone
            raise DatabaseError(str(exc)) from exc
        self.inflight = outcomes

    def collect(self, *, block: bool) -> bool:
        """True once the statement in flight (if any) is committed and counted."""
        if not self.inflight:
            return True
        deadline = time.monotonic() + self.timeout
        pgconn = self._pgconn
        while True:
            try:
                pgconn.consume_input()
                while not pgconn.is_busy():
                    answer = pgconn.get_result()
                    if answer is None:  # ready for the next query: committed, or failed
                        return self._done()
                    if answer.status == pq.ExecStatus.COMMAND_OK:
                        self._written += int(answer.command_tuples or 0)
                    else:
                        self._error = _error_text(answer)
            except psycopg.Error as exc:  # the connection is gone
                raise DatabaseError(str(exc)) from exc
            if not block:
                return False
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise DatabaseStalled(f"no answer to a result write after {self.timeout} s")
            self._readable.poll(remaining * 1000)

    def close(self) -> None:
        self._db.close()

    def _done(self) -> bool:
        outcomes, written, error = self.inflight, self._written, self._error
        self.inflight, self._written, self._error = [], 0, ""
        if error:
            raise DatabaseError(error)
        self.result.sent += written
        _lost_log(self.worker_id, len(outcomes) - written)
        refusals_record(outcomes)
        return True


def _error_text(answer: pq.PGresult) -> str:
    message = answer.error_message
    return message.decode(errors="replace").strip() if isinstance(message, bytes) else str(message)


def _lost_log(worker_id: str, lost: int) -> None:
    if lost:
        logger.warning(
            "worker %s lost the lease of %d queue items; their results are dropped",
            worker_id,
            lost,
        )


def _record_orm(
    *, worker_id: str, outcomes: list[Outcome], result: DrainResult, now: datetime
) -> None:
    """Every outcome kind with the ORM, in one transaction."""
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
        _lost_log(worker_id, sum(1 for o in outcomes if o.item_pk not in held))
        sent: list[Outcome] = []
        events: list[MessageEvent] = []
        for outcome in outcomes:
            if outcome.item_pk not in held:
                continue
            attempts = held[outcome.item_pk]
            kind = outcome.kind
            if kind is OutcomeKind.TEMPORARY and attempts >= max_attempts:
                kind = OutcomeKind.PERMANENT
                outcome.error = f"gave up after {attempts} attempts: {outcome.error}"
            if kind is OutcomeKind.SENT:
                sent.append(outcome)
                events.append(_event(outcome, EventType.SENT, outcome.detail))
                result.sent += 1
            elif kind is OutcomeKind.PERMANENT:
                _item_update(outcome, QueueItemStatus.FAILED, now, last_error=outcome.error)
                _message_update(
                    outcome,
                    now,
                    status=MessageStatus.FAILED,
                    error_message=outcome.error,
                    limit_counted_at=None,  # a failed message gives its slot back
                )
                events.append(_event(outcome, EventType.FAILED, outcome.error))
                result.failed += 1
            elif kind is OutcomeKind.SUPPRESSED:
                _item_update(outcome, QueueItemStatus.SUPPRESSED, now, last_error=outcome.detail)
                _message_update(
                    outcome,
                    now,
                    status=MessageStatus.SUPPRESSED,
                    error_message=outcome.detail,
                    limit_counted_at=None,
                )
                events.append(_event(outcome, EventType.SUPPRESSED, outcome.detail))
                result.suppressed += 1
            else:
                if kind is OutcomeKind.LIMITED:
                    attempts -= 1  # waiting for a window is not an attempt
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
                    now,
                    last_error=outcome.error,
                    attempts=attempts,
                    next_attempt_at=retry_at,
                )
                _message_update(
                    outcome,
                    now,
                    status=MessageStatus.QUEUED,
                    attempts=attempts,
                    limit_counted_at=None,
                )
                events.append(_event(outcome, EventType.DEFERRED, detail))
                result.deferred += 1
        if sent:
            _sent_write(sent, now)
        MessageEvent.objects.bulk_create(events)


def _sent_write(sent: list[Outcome], now: datetime) -> None:
    """The rows are locked by the caller's fence, so updates by primary key are safe."""
    for outcome in sent:
        if outcome.provider_pk is not None:
            QueueItem.objects.filter(pk=outcome.item_pk).update(provider_id=outcome.provider_pk)
            Message.objects.filter(pk=outcome.message_pk).update(provider_id=outcome.provider_pk)
        if outcome.provider_message_id:
            Message.objects.filter(pk=outcome.message_pk).update(
                provider_message_id=outcome.provider_message_id
            )
    QueueItem.objects.filter(pk__in=[o.item_pk for o in sent]).update(
        status=QueueItemStatus.SENT,
        locked_by="",
        locked_until=None,
        last_error="",
        updated_at=now,
    )
    Message.objects.filter(pk__in=[o.message_pk for o in sent]).update(
        status=MessageStatus.SENT,
        sent_at=now,
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
    outcome: Outcome,
    status: str,
    now: datetime,
    *,
    last_error: str,
    attempts: int | None = None,
    next_attempt_at: datetime | None = None,
) -> None:
    values = {
        "status": status,
        "locked_by": "",
        "locked_until": None,
        "last_error": last_error,
        "updated_at": now,
    }
    if attempts is not None:
        values["attempts"] = attempts
    if next_attempt_at is not None:
        values["next_attempt_at"] = next_attempt_at
    if outcome.provider_pk is not None:
        values["provider_id"] = outcome.provider_pk
    QueueItem.objects.filter(pk=outcome.item_pk).update(**values)


def _message_update(outcome: Outcome, now: datetime, **values) -> None:
    if outcome.provider_pk is not None:
        values["provider_id"] = outcome.provider_pk
    Message.objects.filter(pk=outcome.message_pk).update(updated_at=now, **values)


def _event(outcome: Outcome, event_type: str, detail: str) -> MessageEvent:
    return MessageEvent(message_id=outcome.message_pk, event_type=event_type, detail=detail)


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
