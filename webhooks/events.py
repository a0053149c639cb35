"""The event types of API.md section 17 and the message events that cause them.

The same mapping is written into the database trigger (``webhooks/triggers.py``); a test checks
that the two agree.
"""

from mail.models import EventType

TEST_EVENT = "webhook.test"

# MessageEvent.event_type -> the webhook event type it is pushed as.
WEBHOOK_EVENT_TYPES: dict[str, str] = {
    EventType.SENT: "message.sent",
    EventType.DELIVERED: "message.delivered",
    EventType.DEFERRED: "message.deferred",
    EventType.FAILED: "message.failed",
    EventType.BOUNCED: "message.bounced",
    EventType.COMPLAINED: "message.complained",
    EventType.OPEN: "message.opened",
    EventType.CLICK: "message.clicked",
    EventType.SUPPRESSED: "message.suppressed",
    EventType.CANCELED: "message.canceled",
}

MESSAGE_EVENT_TYPES: tuple[str, ...] = tuple(WEBHOOK_EVENT_TYPES.values())
# What an endpoint may subscribe to (webhook.test is sent whatever the filter says).
SUBSCRIBABLE_EVENT_TYPES: tuple[str, ...] = MESSAGE_EVENT_TYPES
