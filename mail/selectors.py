"""Reading messages and their events (API.md section 5)."""

import functools
from dataclasses import dataclass

from django.contrib.auth.models import AbstractBaseUser
from django.db import connection
from django.db.models import BooleanField, Count, F, QuerySet
from django.db.models.expressions import RawSQL

from mail.identifiers import message_id_normalize
from mail.models import Message, MessageEvent, MessageStatus
from mailpass.errors import NotFound
from mailpass.rows import ModelColumns, RowReader, prepared_cursor

# What the status answer shows; the bodies (html, text) can be megabytes and are not read.
STATUS_MESSAGE_FIELDS = (
    "message_id",
    "from_email",
    "to_email",
    "subject",
    "status",
    "error_message",
    "sent_at",
    "created_at",
    "cc",
    "tags",
    "metadata",
    "attempts",
    "send_at",
    "attachments",
    "template_name",
    "suppressed",
)
STATUS_EVENT_FIELDS = (
    "event_type",
    "recipient",
    "detail",
    "ip_address",
    "user_agent",
    "url",
    "created_at",
)


@dataclass(frozen=True)
class MessageWithEvents:
    """A message (with ``queue_id``: its queue item's id or None) and its events, oldest first."""

    message: Message
    events: list[MessageEvent]


def message_get_for_account(*, account: AbstractBaseUser, message_id: str) -> Message:
    """The account's message with this id, in any form a caller may write it; one query
    (the queue item's id comes in the same query through a LEFT JOIN).

    Another account's message is NotFound, exactly like an unknown id.
    """
    normalized = message_id_normalize(message_id)
    max_length = Message._meta.get_field("message_id").max_length
    if "\x00" in normalized or len(normalized) > max_length:
        # Cannot be a stored id (and PostgreSQL refuses NUL in a query): no need to ask.
        raise NotFound("No message with this id.")
    try:
        return (
            Message.objects.filter(account=account, message_id=normalized)
            .only(*STATUS_MESSAGE_FIELDS)
            .annotate(queue_id=F("queue_item__id"))
            .get()
        )
    except Message.DoesNotExist:
        raise NotFound("No message with this id.") from None


def message_events_list(*, message: Message) -> list[MessageEvent]:
    """All events of a message, oldest first, in one query."""
    return list(
        MessageEvent.objects.filter(message_id=message.pk)
        .only(*STATUS_EVENT_FIELDS)
        .order_by("created_at", "id")
    )


def message_status_get(*, account: AbstractBaseUser, message_id: str) -> MessageWithEvents:
    """The message (as ``message_get_for_account`` reads it) and its events, oldest first.

    Two hand-written statements on PostgreSQL: GET /status is asked far more often than
    anything but /send, and compiling its two ORM queries cost more than PostgreSQL spends
    answering them (each is one index probe, also with millions of messages).
    """
    if connection.vendor != "postgresql":
        message = message_get_for_account(account=account, message_id=message_id)
        return MessageWithEvents(message=message, events=message_events_list(message=message))
    normalized = message_id_normalize(message_id)
    if "\x00" in normalized or len(normalized) > _MESSAGE_ID_MAX_LENGTH:
        raise NotFound("No message with this id.")
    queries = _status_queries()
    with prepared_cursor() as cursor:
        cursor.execute(queries.message_sql, [account.pk, normalized])
        row = cursor.fetchone()
        if row is None:
            raise NotFound("No message with this id.")
        message = queries.message_reader.instance(row[:-1])
        message.queue_id = row[-1]
        cursor.execute(queries.events_sql, [message.pk])
        events = [queries.event_reader.instance(event) for event in cursor.fetchall()]
    return MessageWithEvents(message=message, events=events)


_MESSAGE_ID_MAX_LENGTH = Message._meta.get_field("message_id").max_length


@dataclass(frozen=True)
class _StatusQueries:
    message_sql: str
    message_reader: RowReader
    events_sql: str
    event_reader: RowReader


@functools.cache
def _status_queries() -> _StatusQueries:
    message_columns = ModelColumns(Message, "m", ("account", *STATUS_MESSAGE_FIELDS))
    event_columns = ModelColumns(MessageEvent, "e", ("message", *STATUS_EVENT_FIELDS))
    return _StatusQueries(
        message_sql=(
            f"SELECT {message_columns.select_sql()}, q.id FROM mail_message m "
            "LEFT JOIN mail_queueitem q ON q.message_id = m.id "
            "WHERE m.account_id = %s AND m.message_id = %s"
        ),
        message_reader=RowReader(message_columns),
        events_sql=(
            f"SELECT {event_columns.select_sql()} FROM mail_messageevent e "
            "WHERE e.message_id = %s ORDER BY e.created_at, e.id"
        ),
        event_reader=RowReader(event_columns),
    )


# --- The message log (admin) ------------------------------------------------------------------

# The tag filter offers the tags of the most recent messages: a bounded scan, not the whole log.
TAG_CHOICES_SCAN = 10_000
TAG_CHOICES_LIMIT = 100


@dataclass(frozen=True)
class StatusCount:
    status: str
    label: str
    count: int


def message_status_counts(*, queryset: QuerySet[Message]) -> list[StatusCount]:
    """Messages per status in ``queryset`` (one GROUP BY query); every status, zeros included."""
    counts = dict(
        queryset.order_by()
        .values_list("status")
        .annotate(count=Count("pk"))
        .values_list("status", "count")
    )
    return [
        StatusCount(status=value, label=label, count=counts.get(value, 0))
        for value, label in MessageStatus.choices
    ]


def message_tags_recent(
    *, account_id: int | None = None, limit: int = TAG_CHOICES_LIMIT
) -> list[str]:
    """The distinct tags of the most recent messages (of one account when given), sorted."""
    table = connection.ops.quote_name(Message._meta.db_table)
    tags = connection.ops.quote_name(Message._meta.get_field("tags").column)
    created = connection.ops.quote_name(Message._meta.get_field("created_at").column)
    account = connection.ops.quote_name(Message._meta.get_field("account").column)
    where = f"WHERE {account} = %s " if account_id is not None else ""
    recent = f"SELECT {tags} AS tags FROM {table} {where}ORDER BY {created} DESC LIMIT %s"
    if connection.vendor == "postgresql":
        sql = (
            f"SELECT DISTINCT jsonb_array_elements_text(recent.tags) AS tag "
            f"FROM ({recent}) recent WHERE jsonb_typeof(recent.tags) = 'array' "
            f"ORDER BY tag LIMIT %s"
        )
    elif connection.vendor == "sqlite":
        sql = (
            f"SELECT DISTINCT tag.value FROM ({recent}) recent, json_each(recent.tags) tag "
            f"WHERE json_valid(recent.tags) AND json_type(recent.tags) = 'array' "
            f"ORDER BY tag.value LIMIT %s"
        )
    else:
        return []
    with connection.cursor() as cursor:
        params = [account_id] if account_id is not None else []
        cursor.execute(sql, [*params, TAG_CHOICES_SCAN, limit])
        return [row[0] for row in cursor.fetchall() if isinstance(row[0], str)]


def message_filter_by_tag(*, queryset: QuerySet[Message], tag: str) -> QuerySet[Message]:
    """Messages carrying ``tag``: JSON containment on PostgreSQL (``tags @> '["tag"]'``), which
    SQLite lacks, so there an EXISTS over json_each."""
    if connection.vendor == "sqlite":
        table = connection.ops.quote_name(Message._meta.db_table)
        tags = connection.ops.quote_name(Message._meta.get_field("tags").column)
        return queryset.filter(
            RawSQL(
                f"EXISTS (SELECT 1 FROM json_each({table}.{tags}) WHERE json_each.value = %s)",
                [tag],
                output_field=BooleanField(),
            )
        )
    return queryset.filter(tags__contains=[tag])
