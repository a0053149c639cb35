"""Reading messages and their events (API.md section 5)."""

from dataclasses import dataclass

from django.contrib.auth.models import AbstractBaseUser
from django.db.models import F

from mail.identifiers import message_id_normalize
from mail.models import Message, MessageEvent
from mailpass.errors import NotFound

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
)
STATUS_EVENT_FIELDS = ("event_type", "ip_address", "user_agent", "url", "created_at")


@dataclass(frozen=True)
class MessageStatus:
    """A message (with ``queue_id``: its queue item's id or None) and its events, oldest first."""

    message: Message
    events: list[MessageEvent]


def message_get_for_account(*, account: AbstractBaseUser, message_id: str) -> Message:
    """The account's message with this id, in any form a caller may write it; one query
    (the queue item's id comes in the same query through a LEFT JOIN).

    Another account's message is NotFound, exactly like an unknown id.
    """
    try:
        return (
            Message.objects.filter(account=account, message_id=message_id_normalize(message_id))
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


def message_status_get(*, account: AbstractBaseUser, message_id: str) -> MessageStatus:
    message = message_get_for_account(account=account, message_id=message_id)
    return MessageStatus(message=message, events=message_events_list(message=message))
