"""Claim: lease due queue items (and items whose lease expired) to one drain run."""

import os
import socket
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import connection, transaction
from django.db.models import F, Q
from django.utils import timezone

from mail.models import Message, MessageStatus, QueueItem, QueueItemStatus


@dataclass
class Claimed:
    """An item leased to this run, with its message."""

    item: QueueItem
    message: Message


def worker_id_make() -> str:
    """Unique per drain run (several runs may share a process in eager mode)."""
    return f"{socket.gethostname()[:32]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


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


def queue_claim(*, worker_id: str, size: int) -> list[Claimed]:
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
        return [Claimed(item=item, message=messages[item.message_id]) for item in items]
    return _claim_portable(worker_id=worker_id, size=size, now=now, lease_until=lease_until)


def _claim_portable(
    *, worker_id: str, size: int, now: datetime, lease_until: datetime
) -> list[Claimed]:
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
    return [Claimed(item=item, message=messages[item.message_id]) for item in items]
