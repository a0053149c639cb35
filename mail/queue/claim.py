"""Claim: lease due queue items (and items whose lease expired) to one drain run.

One implementation for PostgreSQL and SQLite, in one short transaction:

- Due items are those ``queued`` with ``next_attempt_at`` reached whose message is ``queued``
  or ``scheduled`` (a scheduled message is a queue item due at ``send_at``). The item and its
  message are locked with ``SKIP LOCKED`` (concurrent drainers take different rows, and a
  claim never waits on a cancel in progress), then the message moves to ``sending`` fenced on
  those statuses. A cancel is the same fenced UPDATE to ``canceled``: the database decides
  which one wins, and a message is canceled or sent, never both.
- Items left ``sending`` by a worker that died are claimed again once their lease expired.
- Every claim counts an attempt (on the item and its message). An item claimed
  ``MAILPASS_QUEUE_MAX_ATTEMPTS`` times without any recorded outcome (its message crashes or
  hangs every worker that takes it) is not claimed again: it ends ``failed``.

SQLite has no row locks; its writers are serialized, and the fences in the UPDATEs hold.
"""

import os
import socket
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from mail.models import EventType, Message, MessageEvent, MessageStatus, QueueItem, QueueItemStatus

# Message statuses a due item is claimed from (the cancel fences on the same ones).
CLAIMABLE_MESSAGE_STATUSES = (MessageStatus.QUEUED, MessageStatus.SCHEDULED)


@dataclass
class Claimed:
    """An item leased to this run, with its message."""

    item: QueueItem
    message: Message


def worker_id_make() -> str:
    """Unique per drain run (several runs may share a process in eager mode)."""
    return f"{socket.gethostname()[:32]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def crash_loop_error(attempts: int) -> str:
    return (
        f"gave up after {attempts} attempts: each time the worker sending it stopped before "
        "recording an outcome (the message may crash or hang the sender)"
    )


def queue_claim(*, worker_id: str, size: int) -> list[Claimed]:
    """Lease up to ``size`` items to this worker: expired leases first, then due items."""
    if size <= 0:
        return []
    now = timezone.now()
    lease_until = now + timedelta(seconds=settings.MAILPASS_QUEUE_LEASE_SECONDS)
    max_attempts = settings.MAILPASS_QUEUE_MAX_ATTEMPTS
    locked = QueueItem.objects.select_related("message").select_for_update(
        skip_locked=True, of=("self", "message")
    )
    with transaction.atomic():
        expired = list(
            locked.filter(
                status=QueueItemStatus.SENDING,
                locked_until__lt=now,
                message__status=MessageStatus.SENDING,
            ).order_by("locked_until")[:size]
        )
        due = list(
            locked.filter(
                status=QueueItemStatus.QUEUED,
                next_attempt_at__lte=now,
                message__status__in=CLAIMABLE_MESSAGE_STATUSES,
            ).order_by("next_attempt_at")[: size - len(expired)]
        )
        crashed = [item for item in expired if item.attempts >= max_attempts]
        if crashed:
            _crashed_fail(crashed, now)
        crashed_pks = {item.pk for item in crashed}
        items = [item for item in expired if item.pk not in crashed_pks] + due
        if not items:
            return []
        # Both rows are locked by us (on SQLite no other writer runs meanwhile).
        QueueItem.objects.filter(pk__in=[item.pk for item in items]).update(
            status=QueueItemStatus.SENDING,
            locked_by=worker_id,
            locked_until=lease_until,
            attempts=F("attempts") + 1,
            updated_at=now,
        )
        Message.objects.filter(pk__in=[item.message_id for item in items]).update(
            status=MessageStatus.SENDING, attempts=F("attempts") + 1, updated_at=now
        )
    claimed = []
    for item in items:
        message = item.message
        item.status, item.locked_by, item.locked_until = (
            QueueItemStatus.SENDING,
            worker_id,
            lease_until,
        )
        item.attempts += 1
        message.status = MessageStatus.SENDING
        message.attempts += 1
        claimed.append(Claimed(item=item, message=message))
    claimed.sort(key=lambda entry: entry.item.pk)
    return claimed


def _crashed_fail(items: list[QueueItem], now: datetime) -> None:
    """Items claimed the maximum number of times without an outcome: failed, for good."""
    for item in items:
        error = crash_loop_error(item.attempts)
        QueueItem.objects.filter(pk=item.pk).update(
            status=QueueItemStatus.FAILED,
            locked_by="",
            locked_until=None,
            last_error=error,
            updated_at=now,
        )
        # The send-limit slot stays taken: the message may have gone out.
        Message.objects.filter(pk=item.message_id).update(
            status=MessageStatus.FAILED, error_message=error, updated_at=now
        )
    MessageEvent.objects.bulk_create(
        [
            MessageEvent(
                message_id=item.message_id,
                event_type=EventType.FAILED,
                detail=crash_loop_error(item.attempts),
            )
            for item in items
        ]
    )
