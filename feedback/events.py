"""The normalised feedback event every source (provider webhooks, DSNs) is turned into."""

import hashlib
from dataclasses import dataclass

from mail.models import EventType

# Feedback changes a message only in these ways (API.md section 11).
FEEDBACK_EVENT_TYPES = frozenset(
    {
        EventType.DELIVERED,
        EventType.BOUNCED,
        EventType.DEFERRED,
        EventType.COMPLAINED,
        EventType.FAILED,
    }
)

# The suppression reasons of section 15 that feedback adds.
REASON_HARD_BOUNCE = "hard_bounce"
REASON_COMPLAINT = "complaint"


@dataclass(frozen=True)
class FeedbackEvent:
    """One event about one recipient of one message, as a provider or a DSN reported it.

    ``message_id`` is the Message-ID MailPass wrote (with angle brackets) and
    ``provider_message_id`` the provider's own id; either may be empty. ``event_id`` is the
    source's id of the event (SNS MessageId, sg_event_id, Mailgun event-data id, the DSN's
    Message-ID): the same event is recorded once however often it arrives. ``suppress``
    names the suppression reason it adds ("" for none).
    """

    event_type: str
    recipient: str
    event_id: str
    detail: str = ""
    message_id: str = ""
    provider_message_id: str = ""
    suppress: str = ""

    def __post_init__(self) -> None:
        # PostgreSQL text cannot hold NUL; a payload carrying one must not become a 500.
        for name in ("event_type", "recipient", "event_id", "detail", "message_id"):
            value = getattr(self, name)
            if "\x00" in value:
                object.__setattr__(self, name, value.replace("\x00", ""))
        if "\x00" in self.provider_message_id:
            object.__setattr__(self, "provider_message_id", "")
        if len(self.provider_message_id) > 255:
            object.__setattr__(self, "provider_message_id", "")

    @property
    def external_id(self) -> str:
        """The unique id stored with the event: one source event may name several recipients."""
        value = f"{self.event_id}:{self.recipient.lower()}"
        if len(value) > 255:
            value = "sha256:" + hashlib.sha256(value.encode()).hexdigest()
        return value


def message_id_normalise(value: str | None) -> str:
    """``abc@host`` or ``<abc@host>`` (with stray spaces) as ``<abc@host>``; "" for nothing."""
    value = (value or "").strip()
    if not value:
        return ""
    if not value.startswith("<"):
        value = f"<{value}>"
    return value[:255]
