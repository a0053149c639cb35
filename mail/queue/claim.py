"""Claim: lease due queue items (and items whose lease expired) to one drain run.

One implementation for PostgreSQL and SQLite, in one short transaction:

- Due items are those ``queued`` with ``next_attempt_at`` reached whose message is ``queued``
  or ``scheduled`` (a scheduled message is a queue item due at ``send_at``). The item and its
  message are locked with ``SKIP LOCKED`` (concurrent drainers take different rows, and a
  claim never waits on a cancel in progress), then the message moves to ``sending`` fenced on
  those statuses. A cancel is the same fenced UPDATE to ``canceled``: the database decides
  which one wins, and a message is canceled or sent, never both.
- Items left ``sending`` by a worker that died are claimed again once their lease expired.
- An item whose message is already past sending (sent, failed, canceled...: written by another
  path while the item was waiting or leased) is never sent: the claim that meets it, due or
  with an expired lease, finishes the item with the message's outcome, so nothing stays
  stuck. An expired item whose message is still ``queued`` or ``scheduled`` is claimed again.
- Every claim counts an attempt (on the item and its message). An item claimed
  ``MAILPASS_QUEUE_MAX_ATTEMPTS`` times without any recorded outcome (its message crashes or
  hangs every worker that takes it) is not claimed again: it ends ``failed``.
- ``queue_release`` gives back items a run claimed but never tried (a drain that stops on an
  error releases its prefetched chunk): claimable at once, the attempt undone.

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
from django.db.models.functions import Greatest
from django.utils import timezone

from mail.models import EventType, Message, MessageEvent, MessageStatus, QueueItem, QueueItemStatus

# Message statuses a due item is claimed from (the cancel fences on the same ones).
CLAIMABLE_MESSAGE_STATUSES = (MessageStatus.QUEUED, MessageStatus.SCHEDULED)
# An item whose message has any other status than these is finished, never sent.
SENDABLE_MESSAGE_STATUSES = (*CLAIMABLE_MESSAGE_STATUSES, MessageStatus.SENDING)
# The item status that matches a message that is already past sending.
_FINISHED_ITEM_STATUS = {
    MessageStatus.SENT: QueueItemStatus.SENT,
    MessageStatus.DELIVERED: QueueItemStatus.SENT,
    MessageStatus.BOUNCED: QueueItemStatus.SENT,
    MessageStatus.FAILED: QueueItemStatus.FAILED,
    MessageStatus.SUPPRESSED: QueueItemStatus.SUPPRESSED,
    MessageStatus.CANCELED: QueueItemStatus.CANCELED,
}


@dataclass
class Claimed:
    """An item leased to this run, with its message (and the status it had before)."""

    item: QueueItem
    message: Message
    previous_status: str = MessageStatus.QUEUED


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
    now = timezone.now()
    lease_until = now + timedelta(seconds=settings.MAILPASS_QUEUE_LEASE_SECONDS)
    items: list[QueueItem] = []
    with transaction.atomic():
        while len(items) < size:
            taken, skipped = _claim_some(
                worker_id=worker_id, size=size - len(items), now=now, lease_until=lease_until
            )
            items += taken
            if not skipped:  # items finished instead of claimed leave room: look again
                break
    claimed = []
    for item in items:
        message = item.message
        # What a release gives back (an expired item's message was already "sending").
        previous_status = (
            message.status if message.status in CLAIMABLE_MESSAGE_STATUSES else MessageStatus.QUEUED
        )
        item.status, item.locked_by, item.locked_until = (
            QueueItemStatus.SENDING,
            worker_id,
            lease_until,
        )
        item.attempts += 1
        message.status = MessageStatus.SENDING
        message.attempts += 1
        claimed.append(Claimed(item=item, message=message, previous_status=previous_status))
    claimed.sort(key=lambda entry: entry.item.pk)
    return claimed


def _claim_some(
    *, worker_id: str, size: int, now: datetime, lease_until: datetime
) -> tuple[list[QueueItem], int]:
    """One pass of the claim: the items leased, and how many were finished instead."""
    locked = QueueItem.objects.select_related("message").select_for_update(
        skip_locked=True, of=("self", "message")
    )
    expired = list(
        locked.filter(status=QueueItemStatus.SENDING, locked_until__lt=now).order_by(
            "locked_until"
        )[:size]
    )
    # Due items in order, whatever their message's status: a message past sending is finished
    # below (filtered out here, it would stay at the head of the index, read by every claim).
    due = list(
        locked.filter(status=QueueItemStatus.QUEUED, next_attempt_at__lte=now).order_by(
            "next_attempt_at"
        )[: size - len(expired)]
    )
    finished = [
        item for item in expired + due if item.message.status not in SENDABLE_MESSAGE_STATUSES
    ]
    if finished:
        _finished_drop(finished, now)
    finished_pks = {item.pk for item in finished}
    max_attempts = settings.MAILPASS_QUEUE_MAX_ATTEMPTS
    crashed = [
        item for item in expired if item.attempts >= max_attempts and item.pk not in finished_pks
    ]
    if crashed:
        _crashed_fail(crashed, now)
    skipped = finished_pks | {item.pk for item in crashed}
    items = [item for item in expired + due if item.pk not in skipped]
    if items:
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
    return items, len(skipped)


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


def _finished_drop(items: list[QueueItem], now: datetime) -> None:
    """Items whose message is already past sending: they end with its outcome, never sent.

    The message and its events are left as they are (whoever finished it wrote them).
    """
    for item in items:
        status = _FINISHED_ITEM_STATUS.get(item.message.status, QueueItemStatus.FAILED)
        QueueItem.objects.filter(pk=item.pk).update(
            status=status,
            locked_by="",
            locked_until=None,
            last_error=f"not sent: the message is already {item.message.status}",
            updated_at=now,
        )


def queue_release(*, worker_id: str, claimed: list[Claimed]) -> int:
    """Give back items this run claimed but never tried: claimable at once, attempt undone.

    Fenced like a result (``locked_by = me AND status = 'sending'``): an item whose lease
    another worker took meanwhile is left alone. Each message gets back the status it had
    before the claim (``queued`` or ``scheduled``) and no send-limit slot. Returns how many.
    """
    if not claimed:
        return 0
    now = timezone.now()
    by_item = {entry.item.pk: entry for entry in claimed}
    with transaction.atomic():
        held = list(
            QueueItem.objects.select_for_update()
            .filter(pk__in=list(by_item), locked_by=worker_id, status=QueueItemStatus.SENDING)
            .values_list("pk", flat=True)
        )
        if not held:
            return 0
        QueueItem.objects.filter(pk__in=held).update(
            status=QueueItemStatus.QUEUED,
            locked_by="",
            locked_until=None,
            attempts=Greatest(F("attempts") - 1, 0),
            updated_at=now,
        )
        for previous in {by_item[pk].previous_status for pk in held}:
            Message.objects.filter(
                pk__in=[
                    by_item[pk].message.pk for pk in held if by_item[pk].previous_status == previous
                ],
                status=MessageStatus.SENDING,
            ).update(
                status=previous,
                attempts=Greatest(F("attempts") - 1, 0),
                limit_counted_at=None,
                updated_at=now,
            )
    return len(held)
