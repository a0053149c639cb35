"""The body of a webhook (API.md section 17), built at delivery time from the stored rows."""

import json
from typing import Any

from mail.status_serializers import StatusEventSerializer, UtcDateTimeField
from webhooks.events import TEST_EVENT
from webhooks.models import WebhookDelivery

_utc = UtcDateTimeField().to_representation


def payload_build(*, delivery: WebhookDelivery) -> dict[str, Any]:
    if delivery.event_type == TEST_EVENT or delivery.event is None:
        return {
            "type": TEST_EVENT,
            "created_at": _utc(delivery.created_at),
            "data": {
                "endpoint_id": delivery.endpoint_id,
                "message": "A test event from MailPass: this endpoint is reachable.",
            },
        }
    event = delivery.event
    message = event.message
    return {
        "type": delivery.event_type,
        "created_at": _utc(event.created_at),
        "data": {
            "message_id": message.message_id,
            "to": message.to_email,
            "from": message.from_email,
            "subject": message.subject,
            "status": delivery.message_status or message.status,
            "tags": message.tags,
            "metadata": message.metadata,
            "event": dict(StatusEventSerializer(event).data),
        },
    }


def payload_body(payload: dict[str, Any]) -> bytes:
    """The exact bytes sent and signed."""
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()
