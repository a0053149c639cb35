"""Writing messages: building the row, sending it now, and recording how it ended.

The batch queue builds its rows with ``message_prepare`` and records results with
``message_mark_sent`` / ``message_mark_failed`` too, so both paths store the same thing.
"""

import copy
import functools
import logging
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, NamedTuple

from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ImproperlyConfigured
from django.db import connection, transaction
from django.db.models.expressions import DatabaseDefault, Expression
from django.utils import timezone

from accounts.selectors import account_tracking_defaults
from feedback.verp import verp_sender
from mail.attachments import Attachment, attachment_contents_store
from mail.composer import email_build
from mail.connection_reuse import delivery_send_reusing
from mail.delivery import DeliveryError
from mail.identifiers import message_id_generate
from mail.limits import (
    LimitState,
    send_limit_from_insert,
    send_limit_refused_as_429,
    send_limit_reserve,
)
from mail.models import (
    EventType,
    Message,
    MessageEvent,
    MessageStatus,
    QueueItem,
    QueueItemStatus,
)
from mail.selectors import message_get_for_account
from mailpass.errors import NoSmtpProvider, NotCancelable, SendFailed, ValidationFailed
from mailpass.rows import db_connection, prepared_cursor
from providers.models import SmtpProvider
from providers.selectors import NOT_READ, NotRead, provider_get_default
from suppressions.screening import messages_screen, recipient_suppressed
from suppressions.selectors import suppressed_any_sql
from suppressions.services import message_rcpt_refusals_record
from templating.services import message_data_render

logger = logging.getLogger(__name__)

TEST_KEY_EVENT_DETAIL = "test key: stored, not delivered"

# Far longer than any single send can take (an SMTP timeout applies to every step).
UNFINISHED_SEND_AFTER = timedelta(minutes=15)
UNFINISHED_SEND_ERROR = (
    "outcome unknown: the process sending this message stopped before it recorded the SMTP "
    "server's answer; the message may or may not have been delivered"
)


def message_prepare(
    *,
    account: AbstractBaseUser,
    provider: SmtpProvider,
    data: dict[str, Any],
    is_test: bool,
    status: str = MessageStatus.SENDING,
) -> Message:
    """An unsaved Message from validated input (``MessageInputSerializer``), with its id.

    Sender defaults come from the provider: a missing ``from_email`` or ``from_name`` takes
    the provider's. With no sender address anywhere this raises ``ValidationFailed`` on
    ``from_email``, before anything is stored.
    """
    from_email = data.get("from_email") or provider.from_email
    if not from_email:
        raise ValidationFailed(
            "from_email: Required, because the SMTP provider has no default sender address.",
            details={"from_email": ["Required: the SMTP provider has no default sender address."]},
        )
    tracking = account_tracking_defaults(account=account)
    send_at = data.get("send_at")
    attachments: list[Attachment] = list(data.get("attachments", []))
    if attachments and status != MessageStatus.SENDING and not is_test:
        # A worker builds this email later, maybe in another container: keep the content
        # until the message is done (mail.attachments). A single send builds it from the
        # request and stores nothing; test keys never build it.
        attachment_contents_store(account_id=account.pk, attachments=attachments)
    return Message(
        account=account,
        provider=provider,
        message_id=message_id_generate(),
        from_email=from_email,
        from_name=data["from_name"] if "from_name" in data else provider.from_name,
        to_email=data["to"],
        cc=list(data.get("cc", [])),
        bcc=list(data.get("bcc", [])),
        reply_to=data.get("reply_to", ""),
        subject=data["subject"],
        html=data.get("html", ""),
        text=data.get("text", ""),
        tags=list(data.get("tags", [])),
        metadata=dict(data.get("metadata", {})),
        track_opens=data.get("track_opens", tracking.track_opens),
        track_clicks=data.get("track_clicks", tracking.track_clicks),
        headers=dict(data.get("headers", {})),
        attachments=[attachment.metadata() for attachment in attachments],
        template_name=data.get("template_name", ""),
        # Section 14: only a future send_at is kept (now or past: sent as if not scheduled).
        send_at=send_at if send_at is not None and send_at > timezone.now() else None,
        status=status,
        is_test=is_test,
    )


@functools.cache
def _message_insert_sql() -> tuple[str, tuple]:
    fields = tuple(f for f in Message._meta.concrete_fields if not f.primary_key)
    for field in fields:
        if isinstance(field.db_default, Expression):
            raise ImproperlyConfigured(f"{field}: message_insert takes constant db_defaults only")
    quote = connection.ops.quote_name
    columns = ", ".join(quote(field.column) for field in fields)
    placeholders = ", ".join(["%s"] * len(fields))
    sql = (
        f"INSERT INTO {quote(Message._meta.db_table)} ({columns}) VALUES ({placeholders}) "
        f"RETURNING {quote(Message._meta.pk.column)}"
    )
    return sql, fields


class Inserted(NamedTuple):
    """What ``message_insert`` wrote: the row's id, and the provider's tightest send-limit
    window as the INSERT's trigger left it (JSON text; None without limits, or off PostgreSQL)."""

    pk: int
    send_limit: str | None = None


_SEND_LIMIT_SETTING = "current_setting('mailpass.send_limit', true)"


def message_insert(
    message: Message,
    *,
    unless: tuple[str, list] | None = None,
    also: tuple[str, list] | None = None,
) -> Inserted | None:
    """``message.save(force_insert=True)`` as one hand-written statement on PostgreSQL.

    The ORM compiles the INSERT of a 30-column row on every call; here it is written once, and
    only the values are prepared (as the ORM prepares them: ``pre_save`` stamps the auto
    dates). No signal is sent (nothing listens for Message saves).

    ``unless``: SQL and parameters of a condition under which nothing is written, checked in
    the same statement (PostgreSQL only); returns None when the row was not written.
    ``also``: a write (SQL and positional parameters) that reads the new row's id from the
    ``inserted`` relation, done in the same statement only if the row was written (PostgreSQL
    only; the Idempotency-Key's binding, ``IdempotencyBinding.stored_statement``).
    A row inserted as ``sending`` with a send-limit stamp takes its slot in the INSERT's
    trigger, which fails the statement when a window is full (``mail.limits``).
    """
    if connection.vendor != "postgresql":
        if unless is not None or also is not None:
            raise ValueError("message_insert(unless=..., also=...) is for PostgreSQL")
        message.save(force_insert=True)
        return Inserted(message.pk)
    sql, values = message_insert_statement(message, unless=unless)
    if also is None:
        sql = f"{sql}, {_SEND_LIMIT_SETTING}"
    else:
        also_sql, also_params = also
        sql = (
            f"WITH inserted AS ({sql}), also AS ({also_sql}) "
            f"SELECT id, {_SEND_LIMIT_SETTING} FROM inserted"
        )
        values += also_params
    with prepared_cursor() as cursor:
        cursor.execute(sql, values)
        row = cursor.fetchone()
    if row is None:
        return None
    message_inserted(message, pk=row[0])
    return Inserted(row[0], row[1])


def message_insert_statement(
    message: Message, *, unless: tuple[str, list] | None = None
) -> tuple[str, list]:
    """The INSERT of ``message_insert`` (``RETURNING id``) and its positional values, for a
    statement that carries more writes in a ``WITH`` (PostgreSQL); the instance's automatic
    fields are stamped as for a save. Once it ran, ``message_inserted`` records the id."""
    sql, fields = _message_insert_sql()
    db = db_connection()
    values = []
    for field in fields:
        value = field.pre_save(message, True)
        if isinstance(value, DatabaseDefault):
            # The column's database default, a constant (checked when the SQL is made), is
            # what the row gets and what the instance holds after the ORM's INSERT too.
            value = field.db_default
            setattr(message, field.attname, value)
        values.append(field.get_db_prep_save(value, db))
    if unless is not None:
        condition, params = unless
        placeholders = sql[sql.index("VALUES (") + len("VALUES (") : sql.rindex(") RETURNING")]
        sql = sql.replace(
            f"VALUES ({placeholders})", f"SELECT {placeholders} WHERE NOT {condition}"
        )
        values += params
    return sql, values


def message_inserted(message: Message, *, pk: int) -> None:
    """The instance as a save leaves it, once a hand-written INSERT stored it as ``pk``."""
    message.pk = pk
    message._state.adding = False
    message._state.db = connection.alias


def message_event_create(*, message: Message, event_type: str, detail: str = "") -> MessageEvent:
    return MessageEvent.objects.create(message=message, event_type=event_type, detail=detail)


_SENT_UPDATE_SQL = """
    UPDATE mail_message
    SET status = 'sent', sent_at = %(now)s, attempts = %(attempts)s, error_message = '',
        provider_message_id = %(provider_message_id)s, updated_at = %(now)s
    WHERE id = %(pk)s AND status = 'sending'
    RETURNING id
"""
_SENT_EVENT_SQL = """
    INSERT INTO mail_messageevent (message_id, event_type, ip_address, user_agent, url, detail,
                                   created_at)
    SELECT id, 'sent', NULL, '', '', %(detail)s, %(now)s FROM sent
"""
_MARK_SENT_SQL = f"WITH sent AS ({_SENT_UPDATE_SQL}) {_SENT_EVENT_SQL}"
# With a follow-up write (``also``, reading the ``sent`` relation, so it writes only if the
# row became ``sent``); the statement answers how many did.
_MARK_SENT_ALSO_SQL = (
    f"WITH sent AS ({_SENT_UPDATE_SQL}), event AS ({_SENT_EVENT_SQL}), also AS ({{also}}) "
    "SELECT count(*) FROM sent"
)


def message_mark_sent(
    *,
    message: Message,
    attempts: int = 1,
    detail: str = "",
    provider_message_id: str = "",
    also: tuple[str, dict[str, Any]] | None = None,
) -> bool:
    """``sending`` -> ``sent`` with a ``sent`` event; False if the row was not ``sending``.

    ``provider_message_id`` is the provider's id from its 250 reply to DATA (section 16.1).
    ``also``: a write (SQL and named parameters not clashing with ours) that reads the
    ``sent`` relation, done in the same statement on PostgreSQL (so only if the row became
    ``sent``: the Idempotency-Key's answer, ``IdempotencyBinding.answer_statement``); elsewhere
    it is ignored (the caller writes it itself).

    A narrow update fenced by the status, so a late writer cannot overwrite another result.
    """
    now = timezone.now()
    if connection.vendor == "postgresql":
        # One statement instead of BEGIN, UPDATE, INSERT, COMMIT: the hot path of every send.
        params = {
            "pk": message.pk,
            "now": now,
            "attempts": attempts,
            "detail": detail,
            "provider_message_id": provider_message_id,
        }
        with prepared_cursor() as cursor:
            if also is None:
                cursor.execute(_MARK_SENT_SQL, params)
                changed = cursor.rowcount
            else:
                also_sql, also_params = also
                cursor.execute(_MARK_SENT_ALSO_SQL.format(also=also_sql), {**params, **also_params})
                (changed,) = cursor.fetchone()
    else:
        with transaction.atomic():
            changed = Message.objects.filter(pk=message.pk, status=MessageStatus.SENDING).update(
                status=MessageStatus.SENT,
                sent_at=now,
                attempts=attempts,
                error_message="",
                provider_message_id=provider_message_id,
                updated_at=now,
            )
            if changed:
                message_event_create(message=message, event_type=EventType.SENT, detail=detail)
    if changed:
        message.status, message.sent_at, message.attempts = MessageStatus.SENT, now, attempts
        message.error_message = ""
        message.provider_message_id = provider_message_id
    return bool(changed)


def message_mark_failed(*, message: Message, error: str, attempts: int = 1) -> bool:
    """``sending`` -> ``failed`` with the server's reply and a ``failed`` event.

    Clearing ``limit_counted_at`` gives the failed message's send-limit slot back.
    """
    now = timezone.now()
    with transaction.atomic():
        changed = Message.objects.filter(pk=message.pk, status=MessageStatus.SENDING).update(
            status=MessageStatus.FAILED,
            error_message=error,
            attempts=attempts,
            limit_counted_at=None,
            updated_at=now,
        )
        if changed:
            message_event_create(message=message, event_type=EventType.FAILED, detail=error)
    if changed:
        message.status, message.error_message, message.attempts = (
            MessageStatus.FAILED,
            error,
            attempts,
        )
        message.limit_counted_at = None
    return bool(changed)


@dataclass(frozen=True)
class SendResult:
    message: Message
    # Where the provider's tightest send-limit window stands after this message (None: no
    # limit, or a test key).
    limit: LimitState | None = None
    # The ``sent_answer`` statement was written with the ``sent`` update.
    answer_stored: bool = False


def message_send(
    *,
    account: AbstractBaseUser,
    data: dict[str, Any],
    is_test: bool = False,
    on_stored: Callable[[Message], None] | None = None,
    default_provider: SmtpProvider | None | NotRead = NOT_READ,
    sent_answer: Callable[[Message], tuple[str, dict[str, Any]]] | None = None,
    stored_statement: Callable[[], tuple[str, list]] | None = None,
) -> SendResult:
    """Send one validated message now through the account's default provider (API.md s.3).

    The row is committed as ``sending`` (with its send-limit slot) before SMTP starts, so a
    crash mid-send leaves a row to look at; SMTP runs outside any transaction; the result is
    a narrow update. Raises ``NoSmtpProvider``, ``ValidationFailed`` (no sender address),
    ``SendLimitExceeded`` (nothing stored) or ``SendFailed`` (stored as ``failed``).
    A test key stores the message as ``sent`` and never talks SMTP or counts against limits.
    Call it outside any transaction: its commits must happen before and after SMTP.
    ``on_stored(message)`` runs in the transaction that stores the row, before any SMTP (the
    Idempotency-Key binds itself to the message there). ``default_provider`` is the
    account's default provider when the caller read it already (API-key authentication does,
    in its own query), else it is read here. ``sent_answer(message)``, given the message as
    it reads once ``sent``, returns a write (the Idempotency-Key's answer) that goes with the
    ``sent`` update in one statement (PostgreSQL); ``SendResult.answer_stored`` says if it did.
    ``stored_statement()``: what ``on_stored`` does, as a write for the live message's INSERT
    to carry (``message_insert(also=...)``) on PostgreSQL, in place of calling ``on_stored``:
    without send limits the keyed send then needs no transaction of its own. It is called
    only for a statement that runs (a deferred Idempotency-Key claim goes out with it).
    """
    data = message_data_render(account=account, data=data)  # a template: rendered first
    provider = (
        provider_get_default(account=account)
        if isinstance(default_provider, NotRead)
        else default_provider
    )
    if provider is None:
        raise NoSmtpProvider()
    send_at = data.get("send_at")
    if send_at is not None and send_at > timezone.now():
        return _message_schedule(
            account=account, provider=provider, data=data, is_test=is_test, on_stored=on_stored
        )
    message = message_prepare(account=account, provider=provider, data=data, is_test=is_test)
    has_limits = provider.hourly_limit is not None or provider.daily_limit is not None
    # The suppression check (API.md s.15) comes before a send-limit slot is counted: a
    # suppressed "to" is a 422 (also when the window is full), suppressed cc/bcc are dropped
    # and listed in message.suppressed. On PostgreSQL it rides on the INSERT (one statement
    # instead of two: the row is written only if no recipient is on the list; if one is, the
    # message is screened as below and then written).
    screen_in_insert = not is_test and connection.vendor == "postgresql"
    if not screen_in_insert:
        _message_screen(account=account, message=message)

    if is_test:
        now = timezone.now()
        message.status, message.sent_at = MessageStatus.SENT, now
        with transaction.atomic():
            message.save(force_insert=True)
            message_event_create(
                message=message, event_type=EventType.SENT, detail=TEST_KEY_EVENT_DETAIL
            )
            if on_stored is not None:
                on_stored(message)
        return SendResult(message=message)

    # Every live message takes a slot, limited or not, so a limit set later counts what was
    # already sent in its window. Without limits there is nothing to lock: the INSERT alone
    # is atomic, and skipping BEGIN/COMMIT saves two round trips per request. With limits, on
    # PostgreSQL the INSERT's trigger takes the slot, locks the provider and checks the
    # windows (mail.limits), so the send is still one statement and a full window fails it;
    # elsewhere the row is written (and the key bound) first and the provider locked last,
    # in one transaction that a full window rolls back.
    postgresql = connection.vendor == "postgresql"
    carried = stored_statement is not None and postgresql
    stored_apart = None if carried else on_stored
    # On PostgreSQL the INSERT's trigger checks the limits too (send_limit_from_insert).
    reserved_apart = has_limits and not postgresql
    with transaction.atomic() if reserved_apart or stored_apart else nullcontext():
        message.limit_counted_at = timezone.now()
        unless = None
        if screen_in_insert:
            recipients = [message.to_email, *message.cc, *message.bcc]
            unless = suppressed_any_sql(account_id=account.pk, emails=recipients)
        with send_limit_refused_as_429(limited=has_limits):
            inserted = message_insert(
                message, unless=unless, also=stored_statement() if carried else None
            )
            if not inserted:
                _message_screen(account=account, message=message)  # a 422, or cc/bcc dropped
                inserted = message_insert(message, also=stored_statement() if carried else None)
        if stored_apart is not None:
            stored_apart(message)
        if reserved_apart:
            limit = send_limit_reserve(provider=provider, stamped=True)
        else:
            limit = send_limit_from_insert(inserted.send_limit) if has_limits else None

    contents = {a.sha256: a.content for a in data.get("attachments", [])}
    try:
        email = email_build(message, contents=contents)
        # MAIL FROM: the VERP address, else the bare sender address (the same address that
        # the From header's "Name <address>" would give, without parsing it).
        envelope_from = verp_sender(message.pk) or message.from_email
        result = delivery_send_reusing(provider, email, envelope_from=envelope_from)
    except DeliveryError as exc:
        message_mark_failed(message=message, error=exc.message)
        message_rcpt_refusals_record(message=message, refused=exc.refused)
        raise SendFailed(
            f"SMTP delivery failed: {exc.message}", details={"message_id": message.message_id}
        ) from exc
    except Exception as exc:
        # Not an SMTP answer (a bug, a broken header): the row must not stay "sending".
        logger.exception("sending message %s failed unexpectedly", message.message_id)
        message_mark_failed(message=message, error=f"internal error: {exc.__class__.__name__}")
        raise

    detail = "; ".join(f"refused {rcpt}: {reply}" for rcpt, reply in result.refused.items())
    answer_write = None
    if sent_answer is not None and connection.vendor == "postgresql":
        as_sent = copy.copy(message)
        as_sent.status = MessageStatus.SENT
        answer_write = sent_answer(as_sent)
    changed = message_mark_sent(
        message=message,
        detail=detail,
        provider_message_id=result.provider_message_id,
        also=answer_write,
    )
    if result.refused:
        message_rcpt_refusals_record(message=message, refused=result.refused)
    return SendResult(
        message=message, limit=limit, answer_stored=changed and answer_write is not None
    )


def _message_screen(*, account: AbstractBaseUser, message: Message) -> None:
    """Raise RecipientSuppressed for a suppressed "to"; drop suppressed cc/bcc (listed in
    ``message.suppressed``)."""
    (entry,) = messages_screen(account_id=account.pk, messages=[message])
    if entry is not None:
        raise recipient_suppressed(to=message.to_email, entry=entry)


def _message_schedule(
    *,
    account: AbstractBaseUser,
    provider: SmtpProvider,
    data: dict[str, Any],
    is_test: bool,
    on_stored: Callable[[Message], None] | None = None,
) -> SendResult:
    """A /send with a future ``send_at`` (API.md s.14): validated, rendered and checked now,
    stored ``scheduled`` as a queue item due at ``send_at``; send limits count when it goes."""
    from mail.queue import queue_enqueue  # the queue builds on this module

    message = message_prepare(
        account=account,
        provider=provider,
        data=data,
        is_test=is_test,
        status=MessageStatus.SCHEDULED,
    )
    (entry,) = messages_screen(account_id=account.pk, messages=[message])
    if entry is not None:
        raise recipient_suppressed(to=message.to_email, entry=entry)
    with transaction.atomic():
        queue_enqueue(messages=[message], provider=provider)
        if on_stored is not None:
            on_stored(message)  # the Idempotency-Key binds to the row it stored
    return SendResult(message=message)


def messages_unfinished_fail(*, older_than: timedelta = UNFINISHED_SEND_AFTER) -> int:
    """Close single sends left ``sending`` by a process that died mid-send.

    A single send records its result right after SMTP; if the process or the database went
    away in between, nothing else would ever finish the row, and its status would say
    ``sending`` for good. Such rows become ``failed`` with an explicit "outcome unknown"
    message. Their send-limit slot is kept: the mail may have gone out. Queued messages are
    left alone: their lease brings them back to a worker.
    """
    cutoff = timezone.now() - older_than
    stale = list(
        Message.objects.filter(
            status=MessageStatus.SENDING, updated_at__lt=cutoff, queue_item__isnull=True
        ).values_list("pk", flat=True)[:1000]
    )
    closed = 0
    for pk in stale:
        with transaction.atomic():
            changed = Message.objects.filter(
                pk=pk, status=MessageStatus.SENDING, updated_at__lt=cutoff
            ).update(
                status=MessageStatus.FAILED,
                error_message=UNFINISHED_SEND_ERROR,
                updated_at=timezone.now(),
            )
            if changed:
                MessageEvent.objects.create(
                    message_id=pk, event_type=EventType.FAILED, detail=UNFINISHED_SEND_ERROR
                )
        closed += changed
    if closed:
        logger.warning("closed %d single sends left 'sending' by a stopped process", closed)
    return closed


CANCELABLE_STATUSES = (MessageStatus.SCHEDULED, MessageStatus.QUEUED)


def message_cancel(*, account: AbstractBaseUser, message_id: str) -> Message:
    """Cancel a ``scheduled`` or ``queued`` message (API.md s.14); it is never sent.

    The database decides a race with a worker's claim: in one transaction the queue item is
    moved ``queued`` -> ``canceled`` first (the row the claim locks with ``FOR UPDATE SKIP
    LOCKED``, so both lock in the same order), then the message, fenced on its status. If a
    worker claimed it first, the item is no longer ``queued`` when this UPDATE gets the row,
    nothing changes and the answer is NOT_CANCELABLE with the status it has. Already
    ``canceled`` answers the same as a cancel. Another account's message is NotFound.
    """
    message = message_get_for_account(account=account, message_id=message_id)
    now = timezone.now()
    with transaction.atomic():
        item_changed = QueueItem.objects.filter(
            message_id=message.pk, status=QueueItemStatus.QUEUED
        ).update(status=QueueItemStatus.CANCELED, locked_by="", locked_until=None, updated_at=now)
        changed = 0
        if item_changed or not QueueItem.objects.filter(message_id=message.pk).exists():
            changed = Message.objects.filter(pk=message.pk, status__in=CANCELABLE_STATUSES).update(
                status=MessageStatus.CANCELED, limit_counted_at=None, updated_at=now
            )
        if changed:
            MessageEvent.objects.create(message_id=message.pk, event_type=EventType.CANCELED)
        elif item_changed:
            transaction.set_rollback(True)  # the item moved, the message did not: undo
    status = Message.objects.filter(pk=message.pk).values_list("status", flat=True).get()
    message.status = status
    if status != MessageStatus.CANCELED:
        raise NotCancelable(
            f"The message is {status}; only scheduled or queued messages can be canceled.",
            details={"status": status},
        )
    # Its stored attachment content goes with the drain's housekeeping of final messages.
    return message
