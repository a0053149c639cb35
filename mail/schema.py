"""OpenAPI description of the mail endpoints, kept out of the views.

Two drf-spectacular extensions, both loaded by ``MailConfig.ready``:

- ``MailViewSetScheme`` hands the schema generator a subclass of ``mail.views.MailViewSet``
  carrying the ``extend_schema`` of each action (summary, examples, every error answer and
  header of API.md section 2), so ``mail/views.py`` reads as what the endpoints do;
- ``StrictSerializerScheme`` says what drf-spectacular cannot read off the serializers.

The schema is checked against the running app by the schema fuzzing tests
(``tests/api/test_schema_fuzz.py``), so what it promises must be what the serializers enforce:
unknown fields are refused, and a message needs a non-empty html or text.
"""

import functools

from drf_spectacular.extensions import OpenApiSerializerExtension, OpenApiViewExtension
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiExample,
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
)

from mail.batch_serializers import BatchInputSerializer, BatchResponseSerializer
from mail.idempotency import HEADER as IDEMPOTENCY_HEADER
from mail.serializers import (
    CancelResponseSerializer,
    ErrorResponseSerializer,
    MessageInputSerializer,
    SendResponseSerializer,
)
from mail.status_serializers import StatusResponseSerializer
from mailpass.api import error_body, success_body


def _error(description: str, *examples: OpenApiExample) -> OpenApiResponse:
    return OpenApiResponse(
        ErrorResponseSerializer, description=description, examples=list(examples)
    )


def _error_example(status: int, code: str, message: str, details: dict | None = None):
    return OpenApiExample(
        code,
        value=error_body(code, message, details),
        status_codes=[status],
        response_only=True,
    )


IDEMPOTENCY_PARAMETER = OpenApiParameter(
    IDEMPOTENCY_HEADER,
    {"type": "string", "minLength": 1, "maxLength": 255},
    OpenApiParameter.HEADER,
    description="1..255 characters; the same key and body within 24 h replays the first answer "
    "(same status, same body) and sends nothing; the same key with another body is 409.",
)


def _header(
    name: str, statuses: list[int], description: str, schema: dict | None = None
) -> OpenApiParameter:
    return OpenApiParameter(
        name,
        schema or OpenApiTypes.STR,
        OpenApiParameter.HEADER,
        response=statuses,
        description=description,
    )


RETRY_AFTER = "Whole seconds to wait before trying again."
RATE_LIMIT_HEADERS = [
    _header("RateLimit-Limit", [429], "The provider's limit in the window that is full."),
    _header("RateLimit-Remaining", [429], "Messages left in that window (0)."),
    _header("RateLimit-Reset", [429], "Seconds until the window frees a slot."),
]
# Answers every endpoint may give (API.md section 2).
COMMON_ERRORS = {
    401: _error(
        "UNAUTHORIZED: missing, malformed, unknown or revoked key",
        _error_example(401, "UNAUTHORIZED", "Invalid or revoked API key."),
    ),
    403: _error(
        "FORBIDDEN: the key lacks the `mail` permission",
        _error_example(403, "FORBIDDEN", "This API key lacks the 'mail' permission."),
    ),
    405: _error("METHOD_NOT_ALLOWED"),
    429: _error(
        "RATE_LIMITED (too many requests for this key) or, on /send, SEND_LIMIT_EXCEEDED (the "
        "provider's hourly or daily limit; details: window, limit, remaining, reset_at)",
        _error_example(
            429,
            "SEND_LIMIT_EXCEEDED",
            "The SMTP provider's hourly send limit is reached.",
            {"window": "hourly", "limit": 10, "remaining": 0, "reset_at": "2026-01-30T13:00:00Z"},
        ),
    ),
    500: _error("INTERNAL_ERROR: anything unexpected (never a page or a traceback)"),
    503: _error("SERVICE_UNAVAILABLE: the database or the broker is unreachable; nothing written"),
}
BODY_ERRORS = {
    400: _error(
        "VALIDATION_ERROR: field errors in details",
        _error_example(
            400,
            "VALIDATION_ERROR",
            "to: Enter a valid email address.",
            {"to": ["Enter a valid email address."]},
        ),
    ),
    409: _error("IDEMPOTENCY_CONFLICT: the Idempotency-Key was used with another body"),
    413: _error(
        "PAYLOAD_TOO_LARGE: the body is over the limit (MAILPASS_MAX_BODY_BYTES, default 20 MiB)"
    ),
    415: _error("UNSUPPORTED_MEDIA_TYPE: the body is not application/json"),
    422: _error(
        "NO_SMTP_PROVIDER: the account has no active default SMTP provider. "
        "RECIPIENT_SUPPRESSED: the `to` address is on the account's suppression list "
        "(details: to, reason, suppressed_at); nothing stored or sent",
        _error_example(
            422, "NO_SMTP_PROVIDER", "No default SMTP provider is configured for this account."
        ),
        _error_example(
            422,
            "RECIPIENT_SUPPRESSED",
            "to: user@example.com is on the suppression list (hard_bounce).",
            {
                "to": "user@example.com",
                "reason": "hard_bounce",
                "suppressed_at": "2026-01-30T12:00:00Z",
            },
        ),
    ),
}
COMMON_HEADERS = [
    _header("Retry-After", [409, 429, 503], RETRY_AFTER, {"type": "string", "pattern": "^[0-9]+$"}),
    _header("WWW-Authenticate", [401], '`Bearer realm="api"`'),
    _header("Allow", [405], "The methods the path accepts."),
]
SEED_MESSAGE = {
    "to": "user@example.com",
    "subject": "Order Confirmation",
    "html": "<h1>Your order has been confirmed</h1>",
    "text": "Your order has been confirmed",
    "from_email": "support@yourdomain.com",
    "from_name": "Your App",
    "reply_to": "reply@yourdomain.com",
    "cc": ["cc@example.com"],
    "bcc": ["bcc@example.com"],
    "tags": ["order", "confirmation"],
    "metadata": {"order_id": "12345"},
}
SEED_MESSAGE_ID = "<abc123.1706600000@mailpass.im>"


SEND_SCHEMA = extend_schema(
    operation_id="mail_send",
    summary="Send one email now through the default SMTP provider",
    description="API.md section 3. A test key (`mp_test_`) validates, stores and answers "
    "like a live key but never opens an SMTP connection.",
    request=MessageInputSerializer,
    parameters=[IDEMPOTENCY_PARAMETER, *COMMON_HEADERS, *RATE_LIMIT_HEADERS],
    examples=[
        OpenApiExample("Order confirmation", value=SEED_MESSAGE, request_only=True),
        OpenApiExample(
            "Invoice with an inline logo and a custom header",
            value={
                "to": "user@example.com",
                "subject": "Your invoice",
                "html": '<img src="cid:logo"><p>Your invoice is attached.</p>',
                "text": "Your invoice is attached.",
                "attachments": [
                    {"filename": "invoice-12345.pdf", "content": "JVBERi0xLjQK"},
                    {
                        "filename": "logo.png",
                        "content": "iVBORw0KGgo=",
                        "content_type": "image/png",
                        "content_id": "logo",
                    },
                ],
                "headers": {"List-Unsubscribe": "<mailto:unsubscribe@yourdomain.com>"},
            },
            request_only=True,
        ),
        OpenApiExample(
            "Sent",
            value=success_body(
                {
                    "message_id": SEED_MESSAGE_ID,
                    "status": "sent",
                    "to": "user@example.com",
                    "from": "support@yourdomain.com",
                }
            ),
            response_only=True,
            status_codes=[200],
        ),
    ],
    responses={
        200: SendResponseSerializer,
        **BODY_ERRORS,
        **COMMON_ERRORS,
        500: _error(
            "SEND_FAILED: SMTP delivery failed; the message is stored as `failed` and "
            "details.message_id names it. INTERNAL_ERROR: anything unexpected",
            _error_example(
                500,
                "SEND_FAILED",
                "SMTP delivery failed: 550 5.1.1 mailbox unavailable",
                {"message_id": SEED_MESSAGE_ID},
            ),
        ),
    },
)

SEND_BATCH_SCHEMA = extend_schema(
    operation_id="mail_send_batch",
    summary="Queue 1..100 emails; workers send them",
    description="API.md section 4. Items are validated one by one: a bad item is answered "
    "`failed` with its own error, the good ones are queued in one transaction.",
    request=BatchInputSerializer,
    parameters=[IDEMPOTENCY_PARAMETER, *COMMON_HEADERS],
    examples=[
        OpenApiExample(
            "Two messages",
            value={
                "messages": [
                    {"to": "a@example.com", "subject": "Hello A", "html": "<p>Hi A</p>"},
                    {"to": "b@example.com", "subject": "Hello B", "html": "<p>Hi B</p>"},
                ],
                "from_email": "support@yourdomain.com",
                "from_name": "Your App",
            },
            request_only=True,
        ),
        OpenApiExample(
            "Queued",
            value=success_body(
                {
                    "total": 2,
                    "queued": 2,
                    "failed": 0,
                    "messages": [
                        {
                            "index": 0,
                            "to": "a@example.com",
                            "status": "queued",
                            "queue_id": 101,
                            "message_id": "<k3j4x.1706600000@mailpass.im>",
                        },
                        {
                            "index": 1,
                            "to": "b@example.com",
                            "status": "queued",
                            "queue_id": 102,
                            "message_id": "<p9q8y.1706600000@mailpass.im>",
                        },
                    ],
                }
            ),
            response_only=True,
            status_codes=[200],
        ),
    ],
    responses={
        200: BatchResponseSerializer,
        **BODY_ERRORS,
        **COMMON_ERRORS,
        400: _error("VALIDATION_ERROR of the whole request (a bad item fails alone, in 200)"),
        422: _error(
            "NO_SMTP_PROVIDER: nothing is queued (an item whose `to` is suppressed fails "
            "alone with RECIPIENT_SUPPRESSED, in the 200 answer)"
        ),
        429: _error("RATE_LIMITED: too many requests for this key"),
    },
)

STATUS_SCHEMA = extend_schema(
    operation_id="mail_status",
    summary="A message's status and its events (lifecycle, opens, clicks)",
    description="API.md section 5. Times are UTC ISO 8601 with `Z`; events oldest first.",
    parameters=[
        *COMMON_HEADERS,
        OpenApiParameter(
            "message_id",
            OpenApiTypes.STR,
            OpenApiParameter.PATH,
            examples=[OpenApiExample("From the seed page", value="<abc123@mailpass.im>")],
            description=(
                "The id /send or /send-batch returned, with or without the angle "
                "brackets, percent-encoded or not: `%3Cabc%40mailpass.im%3E`, "
                "`<abc@mailpass.im>` and `abc@mailpass.im` name the same message."
            ),
        ),
    ],
    examples=[
        OpenApiExample(
            "A sent message, opened once",
            value=success_body(
                {
                    "message": {
                        "message_id": "<abc123@mailpass.im>",
                        "from_email": "support@yourdomain.com",
                        "to_email": "user@example.com",
                        "subject": "Order Confirmation",
                        "status": "sent",
                        "error_message": None,
                        "sent_at": "2026-01-30T12:00:00Z",
                        "created_at": "2026-01-30T12:00:00Z",
                        "cc": [],
                        "tags": ["order"],
                        "metadata": {"order_id": "12345"},
                        "queue_id": None,
                        "attempts": 1,
                    },
                    "events": [
                        {
                            "event_type": "open",
                            "ip_address": "192.168.1.1",
                            "user_agent": "Mozilla/5.0...",
                            "url": None,
                            "created_at": "2026-01-30T12:05:00Z",
                        }
                    ],
                }
            ),
            response_only=True,
            status_codes=[200],
        )
    ],
    responses={
        200: StatusResponseSerializer,
        404: _error(
            "NOT_FOUND: unknown id, or a message of another account",
            _error_example(404, "NOT_FOUND", "No message with this id."),
        ),
        **COMMON_ERRORS,
        429: _error("RATE_LIMITED: too many requests for this key"),
    },
)


CANCEL_SCHEMA = extend_schema(
    operation_id="mail_cancel",
    summary="Cancel a scheduled or queued message",
    description="API.md section 14. A `scheduled` or `queued` message becomes `canceled` "
    "(event `canceled`) and is never sent; already `canceled`: the same 200. Any other status "
    "is 409 NOT_CANCELABLE with `details.status`. A message a worker claims at that instant "
    "is either canceled or sent, never both.",
    request=None,
    parameters=[
        *COMMON_HEADERS,
        OpenApiParameter(
            "message_id",
            OpenApiTypes.STR,
            OpenApiParameter.PATH,
            examples=[OpenApiExample("From the seed page", value="<abc123@mailpass.im>")],
            description="The id in any form of GET /status/{message_id}.",
        ),
    ],
    examples=[
        OpenApiExample(
            "Canceled",
            value=success_body({"message_id": SEED_MESSAGE_ID, "status": "canceled"}),
            response_only=True,
            status_codes=[200],
        )
    ],
    responses={
        200: CancelResponseSerializer,
        404: _error(
            "NOT_FOUND: unknown id, or a message of another account",
            _error_example(404, "NOT_FOUND", "No message with this id."),
        ),
        409: _error(
            "NOT_CANCELABLE: the message is no longer scheduled or queued",
            _error_example(
                409,
                "NOT_CANCELABLE",
                "The message is sent; only scheduled or queued messages can be canceled.",
                {"status": "sent"},
            ),
        ),
        **COMMON_ERRORS,
        429: _error("RATE_LIMITED: too many requests for this key"),
    },
)


class StrictSerializerScheme(OpenApiSerializerExtension):
    target_class = "mail.serializers.StrictSerializer"
    match_subclasses = True

    def map_serializer(self, auto_schema, direction):
        schema = auto_schema._map_serializer(self.target, direction, bypass_extensions=True)
        schema["additionalProperties"] = False
        if isinstance(self.target, MessageInputSerializer) or self.target is (
            MessageInputSerializer
        ):
            # html or text, or a template that gives subject, html and text (API.md s.13).
            schema["anyOf"] = [
                {"required": [name], "properties": {name: {"type": "string", "minLength": 1}}}
                for name in ("html", "text")
            ] + [{"required": ["template"]}]
        return schema


class MailViewSetScheme(OpenApiViewExtension):
    """The schema generator sees ``MailViewSet`` with each action wrapped in its schema.

    ``extend_schema_view`` only takes HTTP method names and ``@action`` s, not the routed
    names ``send``, ``send_batch`` and ``status``; so each action is forwarded through a new
    function that carries the ``extend_schema`` (the view's own methods are left untouched).
    """

    target_class = "mail.views.MailViewSet"

    def view_replacement(self):
        schemas = {
            "send": SEND_SCHEMA,
            "send_batch": SEND_BATCH_SCHEMA,
            "status": STATUS_SCHEMA,
            "cancel": CANCEL_SCHEMA,
        }
        methods = {
            name: schema(_forward(getattr(self.target_class, name)))
            for name, schema in schemas.items()
        }
        return type(self.target_class.__name__, (self.target_class,), methods)


def _forward(method):
    @functools.wraps(method)
    def documented(self, request, *args, **kwargs):
        return method(self, request, *args, **kwargs)

    return documented
