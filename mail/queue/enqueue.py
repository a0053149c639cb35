"""Enqueue: store messages as ``queued`` with their queue items, and kick a drain."""

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from celery import current_app
from django.contrib.auth.models import AbstractBaseUser
from django.db import connection, transaction
from django.utils import timezone

from mail.models import EventType, Message, MessageEvent, MessageStatus, QueueItem, QueueItemStatus
from mail.services import message_insert_statement, message_inserted, message_prepare
from mailpass.errors import NoSmtpProvider, ValidationFailed
from mailpass.rows import prepared_cursor
from providers.models import SmtpProvider
from providers.selectors import provider_get_default
from suppressions.screening import messages_screen, recipient_suppressed
from suppressions.selectors import suppressed_any_sql

logger = logging.getLogger(__name__)

# The Celery task that drains (``mail.tasks``); enqueued by name, so this package never
# imports the tasks module.
QUEUE_DRAIN_TASK = "mail.queue_drain"


@dataclass
class BatchItem:
    """One item of a batch request: validated ``data`` or an ``error``; then its queue ids."""

    index: int
    to: str | None
    data: dict[str, Any] | None = None
    error: dict[str, Any] | None = None
    queue_id: int | None = None
    message_id: str | None = None

    send_at: datetime | None = None  # set when the item was stored ``scheduled``

    @property
    def status(self) -> str:
        if self.error is not None:
            return "failed"
        return "scheduled" if self.send_at is not None else "queued"


def batch_enqueue(
    *,
    account: AbstractBaseUser,
    items: list[BatchItem],
    is_test: bool,
    on_stored: Callable[[list[BatchItem]], None] | None = None,
    kick: bool = True,
    provider: SmtpProvider | None = None,
) -> list[BatchItem]:
    """Queue the valid items of a batch through the account's default provider.

    Raises ``NoSmtpProvider`` (nothing queued). An item without any sender address fails on
    its own. All valid items are written in one transaction; ``on_stored(items)`` runs inside
    it once their ids are known (the Idempotency-Key stores the batch's answer there, so the
    rows and the answer commit together), and only when something was queued. ``kick=False``:
    the caller kicks the drain itself (the SMTP relay, after its replies, once for many).
    ``provider``: the account's active default provider when the caller has just read it (the
    relay, with the key's state at MAIL); else it is read here. One switched off since is
    handled by the drain, as for any queued message.
    """
    if provider is None:
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

    def stored(queue_items: list[QueueItem]) -> None:
        for (item, message), queue_item in zip(queued, queue_items, strict=True):
            item.queue_id, item.message_id = queue_item.pk, message.message_id
            if message.status == MessageStatus.SCHEDULED:
                item.send_at = message.send_at
        if on_stored is not None:
            on_stored(items)

    if len(queued) == 1 and on_stored is None and connection.vendor == "postgresql":
        # One message (an SMTP relay transaction, a one-item batch): checked against the
        # suppression list and stored with its queue item and event in one statement. If a
        # recipient is on the list nothing is written, and it is screened as below.
        message = queued[0][1]
        recipients = [message.to_email, *message.cc, *message.bcc]
        queue_item = queue_enqueue_one(
            message=message,
            provider=provider,
            unless=suppressed_any_sql(account_id=account.pk, emails=recipients),
            kick=kick,
        )
        if queue_item is not None:
            stored([queue_item])
            return items
    # One query for the whole batch (API.md s.15): an item whose "to" is suppressed fails
    # with RECIPIENT_SUPPRESSED; suppressed cc/bcc are dropped from the others.
    verdicts = messages_screen(account_id=account.pk, messages=[m for _, m in queued])
    for (item, message), entry in zip(queued, verdicts, strict=True):
        if entry is not None:
            exc = recipient_suppressed(to=message.to_email, entry=entry)
            item.error = {"code": exc.code, "message": exc.message, "details": exc.details}
    queued[:] = [(item, message) for item, message in queued if item.error is None]
    queue_enqueue(messages=[m for _, m in queued], provider=provider, on_stored=stored, kick=kick)
    return items


def queue_enqueue(
    *,
    messages: list[Message],
    provider: SmtpProvider,
    on_stored: Callable[[list[QueueItem]], None] | None = None,
    kick: bool = True,
) -> list[QueueItem]:
    """Store unsaved messages as ``queued``, each with a queue item and a ``queued`` event.

    A message with a future ``send_at`` is stored ``scheduled`` instead, its item due at
    ``send_at``, with a ``scheduled`` event (API.md s.14; the claim takes it when due).
    One transaction for all of them: either every message is queued or none; ``on_stored``
    is called with the items inside it. A drain is kicked after COMMIT (it only cuts latency;
    the periodic drain guarantees progress).
    """
    if not messages:
        return []
    now = timezone.now()
    for message in messages:
        _queue_stamp(message, provider=provider, now=now)
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
                        next_attempt_at=_due(message, now),
                    )
                    for message in messages
                ]
            )
            MessageEvent.objects.bulk_create(
                [
                    MessageEvent(message=message, event_type=_first_event(message))
                    for message in messages
                ]
            )
        if on_stored is not None:
            on_stored(items)
        count = sum(1 for m in messages if m.status == MessageStatus.QUEUED)
        if count and kick:
            transaction.on_commit(lambda: queue_drain_kick(limit=count))
    return items


# The columns a queue item and a first event are written with, by both statements below.
_ITEM_INSERT = """INSERT INTO mail_queueitem (message_id, account_id, provider_id, status,
    attempts, next_attempt_at, locked_by, last_error, created_at, updated_at)"""
_EVENT_INSERT = """INSERT INTO mail_messageevent (message_id, event_type, ip_address,
    user_agent, url, detail, created_at)"""

# A message, its queue item and its first event in one statement (PostgreSQL): the row comes
# from ``mail.services.message_insert_statement`` (the ``inserted`` relation).
_ONE_ITEM_SQL = f"""
WITH inserted AS ({{insert}}), item AS (
    {_ITEM_INSERT}
    SELECT id, %s, %s, 'queued', 0, %s, '', '', %s, %s FROM inserted
    RETURNING id, message_id
), event AS (
    {_EVENT_INSERT}
    SELECT message_id, %s, NULL, '', '', '', %s FROM item
)
SELECT message_id, id FROM item
"""


def queue_enqueue_one(
    *,
    message: Message,
    provider: SmtpProvider,
    unless: tuple[str, list] | None = None,
    kick: bool = True,
) -> QueueItem | None:
    """``queue_enqueue`` of one unsaved message as a single statement (PostgreSQL): outside a
    transaction it commits alone, with one round trip instead of four.

    ``unless``: a condition (SQL, parameters) under which nothing is written, checked in the
    same statement (the suppression list, ``suppressed_any_sql``); then it returns None.
    """
    now = timezone.now()
    _queue_stamp(message, provider=provider, now=now)
    insert, values = message_insert_statement(message, unless=unless)
    values += [
        message.account_id,
        provider.pk,
        _due(message, now),
        now,
        now,
        _first_event(message),
        now,
    ]
    with prepared_cursor() as cursor:
        cursor.execute(_ONE_ITEM_SQL.format(insert=insert), values)
        row = cursor.fetchone()
    if row is None:
        return None
    message_inserted(message, pk=row[0])
    if kick and message.status == MessageStatus.QUEUED:
        transaction.on_commit(lambda: queue_drain_kick(limit=1))
    return _stored_item(message, provider=provider, pk=row[1], now=now)


# Queue items and "queued" events of stored messages in one round trip on PostgreSQL: the
# enqueue rate is dominated by building and quoting rows, and these two need only the ids.
_ITEMS_INSERT_SQL = f"""
WITH new AS (
    SELECT * FROM unnest(%(messages)s::bigint[], %(accounts)s::integer[],
                         %(due)s::timestamptz[], %(events)s::text[])
        AS n(message, account, due, event)
), items AS (
    {_ITEM_INSERT}
    SELECT message, account, %(provider)s, 'queued', 0, due, '', '', %(now)s, %(now)s
    FROM new
    RETURNING id, message_id
), events AS (
    {_EVENT_INSERT}
    SELECT message, event, NULL, '', '', '', %(now)s FROM new
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
                "due": [_due(m, now) for m in messages],
                "events": [_first_event(m) for m in messages],
                "provider": provider.pk,
                "now": now,
            },
        )
        item_pks = dict((message_pk, pk) for pk, message_pk in cursor.fetchall())
    return [_stored_item(m, provider=provider, pk=item_pks[m.pk], now=now) for m in messages]


def _queue_stamp(message: Message, *, provider: SmtpProvider, now: datetime) -> None:
    """``scheduled`` for a future ``send_at``, else ``queued``; through ``provider``."""
    scheduled = message.send_at is not None and message.send_at > now
    message.status = MessageStatus.SCHEDULED if scheduled else MessageStatus.QUEUED
    message.provider = provider


def _stored_item(message: Message, *, provider: SmtpProvider, pk: int, now: datetime) -> QueueItem:
    """The queue item a hand-written INSERT stored as ``pk`` for ``message``, as in its row."""
    return QueueItem(
        pk=pk,
        message=message,
        account_id=message.account_id,
        provider=provider,
        status=QueueItemStatus.QUEUED,
        next_attempt_at=_due(message, now),
        created_at=now,
        updated_at=now,
    )


def _due(message: Message, now: datetime) -> datetime:
    return message.send_at if message.status == MessageStatus.SCHEDULED else now


def _first_event(message: Message) -> str:
    return EventType.SCHEDULED if message.status == MessageStatus.SCHEDULED else EventType.QUEUED


def queue_drain_kick(*, limit: int | None = None) -> None:
    """Ask a worker to drain now (in eager mode: drain here). Never fails the caller."""
    try:
        # The task is registered when the mail app is ready (``MailConfig.ready``).
        current_app.tasks[QUEUE_DRAIN_TASK].delay(limit=limit)
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
