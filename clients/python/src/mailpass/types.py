"""The shapes of what the API answers (``data`` of the envelope) and of what it takes.

TypedDicts, so results are plain dicts (JSON-ready, printable) that a type checker still
checks; a field a newer server adds is simply there too.
"""

from __future__ import annotations

from typing import Any, Literal, TypedDict

# Literal values the API documents; a newer server may add more.
MessageStatusName = Literal[
    "scheduled",
    "queued",
    "sending",
    "sent",
    "delivered",
    "bounced",
    "failed",
    "suppressed",
    "canceled",
]
SuppressionReason = Literal["hard_bounce", "complaint", "manual", "unsubscribe"]


class _AttachmentRequired(TypedDict):
    filename: str
    # bytes are base64-encoded by the client; a str is sent as given (already base64)
    content: bytes | str


class Attachment(_AttachmentRequired, total=False):
    """A file (API.md section 12); a ``content_id`` makes it inline (``cid:`` in html)."""

    content_type: str
    content_id: str


class MessageParams(TypedDict, total=False):
    """One message: the keyword arguments of ``mail.send`` and an item of ``send_batch``."""

    to: str
    subject: str
    html: str
    text: str
    from_email: str
    from_name: str
    reply_to: str
    cc: list[str]
    bcc: list[str]
    tags: list[str]
    metadata: dict[str, Any]
    track_opens: bool
    track_clicks: bool
    attachments: list[Attachment]
    headers: dict[str, str]
    template: str
    variables: dict[str, Any]
    # ISO 8601 with a time zone, or an aware datetime
    send_at: Any


_SendResultBase = TypedDict(
    "_SendResultBase",
    {"message_id": str, "status": str, "to": str, "from": str, "suppressed": list[str]},
)


class SendResult(_SendResultBase, total=False):
    """``data`` of POST /send; ``send_at`` only when ``status`` is ``scheduled``."""

    send_at: str


class ErrorBody(TypedDict):
    code: str
    message: str
    details: dict[str, Any]


class BatchItemResult(TypedDict, total=False):
    """One item, in request order: ``queue_id``/``message_id`` when queued, ``error`` when not."""

    index: int
    to: str | None
    status: str
    queue_id: int
    message_id: str
    send_at: str
    error: ErrorBody


class BatchResult(TypedDict):
    total: int
    queued: int
    failed: int
    messages: list[BatchItemResult]


class AttachmentInfo(TypedDict):
    filename: str
    content_type: str
    size: int
    content_id: str | None


class MessageInfo(TypedDict):
    message_id: str
    from_email: str
    to_email: str
    subject: str
    status: str
    error_message: str | None
    sent_at: str | None
    created_at: str
    cc: list[str]
    tags: list[str]
    metadata: dict[str, Any]
    queue_id: int | None
    attempts: int
    send_at: str | None
    attachments: list[AttachmentInfo]
    template: str | None
    suppressed: list[str]


class Event(TypedDict):
    event_type: str
    recipient: str | None
    detail: str | None
    ip_address: str | None
    user_agent: str | None
    url: str | None
    created_at: str


class StatusResult(TypedDict):
    message: MessageInfo
    events: list[Event]


class CancelResult(TypedDict):
    message_id: str
    status: str


class Template(TypedDict):
    name: str
    subject: str
    html: str
    text: str
    created_at: str
    updated_at: str


class TemplatePage(TypedDict):
    templates: list[Template]
    next_cursor: str | None


class TemplateDeleted(TypedDict):
    name: str
    deleted: bool


class RenderedTemplate(TypedDict):
    subject: str
    html: str
    text: str


class Suppression(TypedDict):
    email: str
    reason: str
    message_id: str | None
    detail: str | None
    created_at: str


class SuppressionPage(TypedDict):
    suppressions: list[Suppression]
    next_cursor: str | None


class LastDelivery(TypedDict):
    attempted_at: str
    status_code: int | None
    success: bool
    error: str | None


class WebhookEndpoint(TypedDict):
    id: int
    url: str
    events: list[str]
    description: str
    active: bool
    disabled_reason: str | None
    last_delivery: LastDelivery | None
    created_at: str


class WebhookEndpointWithSecret(WebhookEndpoint):
    """As created or rotated: the ``secret`` (``whsec_...``) is shown this once."""

    secret: str


class WebhookEndpointDeleted(TypedDict):
    id: int
    deleted: bool


class WebhookTestResult(TypedDict):
    webhook_id: str
    success: bool
    status_code: int | None
    ms: int | None
    error: str | None
