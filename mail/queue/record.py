"""Record: write what happened to claimed items, fenced by the lease."""

import enum
import logging
import random
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Case, F, Value, When
from django.db.models.functions import Coalesce
from django.utils import timezone

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

    @property
    def total(self) -> int:
        return self.sent + self.deferred + self.failed


class OutcomeKind(enum.Enum):
    """What happened to one claimed item, before it is written."""

    SENT = "sent"
    TEMPORARY = "temporary"  # retry later (an attempt)
    PERMANENT = "permanent"  # failed for good
    LIMITED = "limited"  # the provider's send limit is full: wait, not an attempt


@dataclass
class Outcome:
    item_pk: int
    message_pk: int
    kind: OutcomeKind
    error: str = ""
    detail: str = ""
    retry_at: datetime | None = None  # LIMITED: when the window frees
    is_test: bool = False


def retry_delay(*, attempts: int) -> timedelta:
    """Exponential backoff with jitter after the ``attempts``-th failed attempt."""
    base = settings.MAILPASS_QUEUE_RETRY_BASE_SECONDS * RETRY_FACTOR ** max(0, attempts - 1)
    return timedelta(seconds=base * random.uniform(1.0, 1.5))


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


def queue_record(*, worker_id: str, outcomes: list[Outcome], result: DrainResult) -> None:
    """Write outcomes of items this worker still holds; drop the rest (another owns them)."""
    now = timezone.now()
    if connection.vendor == "postgresql":
        sent = [o for o in outcomes if o.kind == OutcomeKind.SENT]
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
        outcomes = [o for o in outcomes if o.kind != OutcomeKind.SENT]
        if not outcomes:
            return
    _record_portable(worker_id=worker_id, outcomes=outcomes, result=result, now=now)


def _record_portable(
    *, worker_id: str, outcomes: list[Outcome], result: DrainResult, now: datetime
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
        sent: list[Outcome] = []
        events: list[MessageEvent] = []
        for outcome in outcomes:
            if outcome.item_pk not in held:
                continue
            attempts = held[outcome.item_pk] + (0 if outcome.kind == OutcomeKind.LIMITED else 1)
            kind = outcome.kind
            if kind == OutcomeKind.TEMPORARY and attempts >= max_attempts:
                kind = OutcomeKind.PERMANENT
                outcome.error = f"gave up after {attempts} attempts: {outcome.error}"
            if kind == OutcomeKind.SENT:
                sent.append(outcome)
                events.append(_event(outcome, EventType.SENT, outcome.detail))
                result.sent += 1
            elif kind == OutcomeKind.PERMANENT:
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
                if kind == OutcomeKind.LIMITED:
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


def _sent_write(sent: list[Outcome], now: datetime) -> None:
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
    outcome: Outcome,
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


def _event(outcome: Outcome, event_type: str, detail: str) -> MessageEvent:
    return MessageEvent(message_id=outcome.message_pk, event_type=event_type, detail=detail)


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
