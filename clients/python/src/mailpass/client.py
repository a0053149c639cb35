"""``MailPass``: the client, and one resource per part of the API."""

from __future__ import annotations

import base64
import builtins
import datetime
import uuid
from collections.abc import Iterator, Mapping, Sequence
from typing import Any, cast

import httpx

from mailpass._transport import Transport, path_segment
from mailpass.types import (
    Attachment,
    BatchResult,
    CancelResult,
    MessageParams,
    RenderedTemplate,
    SendResult,
    StatusResult,
    Suppression,
    SuppressionPage,
    Template,
    TemplateDeleted,
    TemplatePage,
    WebhookEndpoint,
    WebhookEndpointDeleted,
    WebhookEndpointWithSecret,
    WebhookTestResult,
)


def idempotency_key_new() -> str:
    return str(uuid.uuid4())


def _attachment_json(attachment: Attachment | Mapping[str, Any]) -> dict[str, Any]:
    item = dict(attachment)
    content = item.get("content")
    if isinstance(content, (bytes, bytearray, memoryview)):
        item["content"] = base64.b64encode(bytes(content)).decode("ascii")
    return {k: v for k, v in item.items() if v is not None}


def message_json(params: Mapping[str, Any]) -> dict[str, Any]:
    """A message's JSON: None means "not given" (the API refuses null), bytes become base64,
    a datetime ``send_at`` becomes ISO 8601."""
    body: dict[str, Any] = {}
    for name, value in params.items():
        if value is None:
            continue
        if name == "attachments":
            value = [_attachment_json(a) for a in value]
        elif name == "send_at" and isinstance(value, datetime.datetime):
            if value.tzinfo is None:
                raise ValueError("send_at needs a time zone (an aware datetime).")
            value = value.isoformat()
        elif name in ("cc", "bcc", "tags") and isinstance(value, (tuple, set, frozenset)):
            value = list(value)
        body[name] = value
    return body


class Mail:
    """send, send_batch, status, cancel (permission ``mail``)."""

    def __init__(self, transport: Transport) -> None:
        self._transport = transport

    def send(
        self,
        *,
        to: str,
        subject: str | None = None,
        html: str | None = None,
        text: str | None = None,
        from_email: str | None = None,
        from_name: str | None = None,
        reply_to: str | None = None,
        cc: Sequence[str] | None = None,
        bcc: Sequence[str] | None = None,
        tags: Sequence[str] | None = None,
        metadata: Mapping[str, Any] | None = None,
        track_opens: bool | None = None,
        track_clicks: bool | None = None,
        attachments: Sequence[Attachment] | None = None,
        headers: Mapping[str, str] | None = None,
        template: str | None = None,
        variables: Mapping[str, Any] | None = None,
        send_at: datetime.datetime | str | None = None,
        idempotency_key: str | None = None,
    ) -> SendResult:
        """Send one message now (or schedule it with ``send_at``).

        Every attempt of this call carries the same ``Idempotency-Key`` (a new UUID unless
        one is given), so a retry after a lost answer never sends the message twice.
        """
        params = dict(locals())
        for name in ("self", "idempotency_key"):
            params.pop(name)
        return cast(
            SendResult,
            self._transport.request(
                "POST",
                "/api/v1/mail/send",
                json=message_json(params),
                idempotency_key=idempotency_key or idempotency_key_new(),
            ),
        )

    def send_batch(
        self,
        messages: Sequence[MessageParams | Mapping[str, Any]],
        *,
        idempotency_key: str | None = None,
        **defaults: Any,
    ) -> BatchResult:
        """Queue 1..100 messages; ``defaults`` (from_email, from_name, reply_to, tags,
        metadata, track_opens, track_clicks, send_at) apply to items that do not set them.
        An invalid item is answered ``failed`` with its own error; the others are queued."""
        body = message_json(defaults)
        body["messages"] = [message_json(m) for m in messages]
        return cast(
            BatchResult,
            self._transport.request(
                "POST",
                "/api/v1/mail/send-batch",
                json=body,
                idempotency_key=idempotency_key or idempotency_key_new(),
            ),
        )

    def status(self, message_id: str) -> StatusResult:
        """The message and its events, oldest first (``<id@host>`` with or without brackets)."""
        return cast(
            StatusResult,
            self._transport.request("GET", f"/api/v1/mail/status/{path_segment(message_id)}"),
        )

    def cancel(self, message_id: str) -> CancelResult:
        """Cancel a ``scheduled`` or ``queued`` message; ``ConflictError`` (NOT_CANCELABLE)
        when it is past that. Repeating it is harmless, so it is retried like a GET."""
        return cast(
            CancelResult,
            self._transport.request(
                "POST", f"/api/v1/mail/cancel/{path_segment(message_id)}", repeatable=True
            ),
        )


class Templates:
    """The account's templates (permission ``templates``)."""

    def __init__(self, transport: Transport) -> None:
        self._transport = transport

    def list(self, *, cursor: str | None = None) -> TemplatePage:
        """One page, by name; pass ``next_cursor`` for the next (None on the last page)."""
        return cast(
            TemplatePage,
            self._transport.request("GET", "/api/v1/templates", params={"cursor": cursor}),
        )

    def iter_all(self) -> Iterator[Template]:
        cursor = None
        while True:
            page = self.list(cursor=cursor)
            yield from page["templates"]
            cursor = page["next_cursor"]
            if not cursor:
                return

    def create(
        self, *, name: str, subject: str, html: str | None = None, text: str | None = None
    ) -> Template:
        body = message_json({"name": name, "subject": subject, "html": html, "text": text})
        return cast(Template, self._transport.request("POST", "/api/v1/templates", json=body))

    def get(self, name: str) -> Template:
        return cast(
            Template, self._transport.request("GET", f"/api/v1/templates/{path_segment(name)}")
        )

    def replace(
        self, name: str, *, subject: str, html: str | None = None, text: str | None = None
    ) -> Template:
        """Replace subject, html and text (an omitted html or text becomes empty)."""
        body = message_json({"subject": subject, "html": html, "text": text})
        return cast(
            Template,
            self._transport.request("PUT", f"/api/v1/templates/{path_segment(name)}", json=body),
        )

    def delete(self, name: str) -> TemplateDeleted:
        return cast(
            TemplateDeleted,
            self._transport.request("DELETE", f"/api/v1/templates/{path_segment(name)}"),
        )

    def render(self, name: str, variables: Mapping[str, Any] | None = None) -> RenderedTemplate:
        """The rendered subject, html and text; sends nothing."""
        return cast(
            RenderedTemplate,
            self._transport.request(
                "POST",
                f"/api/v1/templates/{path_segment(name)}/render",
                json={"variables": dict(variables or {})},
                repeatable=True,
            ),
        )


class Suppressions:
    """The account's suppression list (permission ``suppressions``)."""

    def __init__(self, transport: Transport) -> None:
        self._transport = transport

    def list(
        self, *, email: str | None = None, reason: str | None = None, cursor: str | None = None
    ) -> SuppressionPage:
        """Newest first, 100 a page; ``email`` matches part of the address."""
        return cast(
            SuppressionPage,
            self._transport.request(
                "GET",
                "/api/v1/suppressions",
                params={"email": email, "reason": reason, "cursor": cursor},
            ),
        )

    def iter_all(
        self, *, email: str | None = None, reason: str | None = None
    ) -> Iterator[Suppression]:
        cursor = None
        while True:
            page = self.list(email=email, reason=reason, cursor=cursor)
            yield from page["suppressions"]
            cursor = page["next_cursor"]
            if not cursor:
                return

    def get(self, email: str) -> Suppression:
        return cast(
            Suppression,
            self._transport.request("GET", f"/api/v1/suppressions/{path_segment(email)}"),
        )

    def add(self, email: str, *, reason: str = "manual", detail: str | None = None) -> Suppression:
        """Suppress an address (``manual`` or ``unsubscribe``); an address already on the list
        is answered unchanged, so this is safe to repeat."""
        body = message_json({"email": email, "reason": reason, "detail": detail})
        return cast(
            Suppression,
            self._transport.request("POST", "/api/v1/suppressions", json=body, repeatable=True),
        )

    def remove(self, email: str) -> Suppression:
        """Take it off the list (``NotFoundError`` when it is not on it); answers the entry."""
        return cast(
            Suppression,
            self._transport.request("DELETE", f"/api/v1/suppressions/{path_segment(email)}"),
        )


class Webhooks:
    """The account's webhook endpoints (permission ``webhooks``). To check what arrives at
    an endpoint, see ``mailpass.webhooks.verify``."""

    def __init__(self, transport: Transport) -> None:
        self._transport = transport

    def list(self) -> builtins.list[WebhookEndpoint]:
        data = self._transport.request("GET", "/api/v1/webhooks")
        return cast("builtins.list[WebhookEndpoint]", data["endpoints"])

    def create(
        self,
        *,
        url: str,
        events: Sequence[str] | None = None,
        description: str | None = None,
        active: bool | None = None,
    ) -> WebhookEndpointWithSecret:
        """Add an endpoint; the answer's ``secret`` is shown this once: keep it."""
        body = _endpoint_body(url=url, events=events, description=description, active=active)
        return cast(
            WebhookEndpointWithSecret,
            self._transport.request("POST", "/api/v1/webhooks", json=body),
        )

    def get(self, endpoint_id: int) -> WebhookEndpoint:
        return cast(
            WebhookEndpoint,
            self._transport.request("GET", f"/api/v1/webhooks/{path_segment(endpoint_id)}"),
        )

    def update(
        self,
        endpoint_id: int,
        *,
        url: str | None = None,
        events: Sequence[str] | None = None,
        description: str | None = None,
        active: bool | None = None,
    ) -> WebhookEndpoint:
        """Change what is given; switching ``active`` back on resumes deliveries."""
        body = _endpoint_body(url=url, events=events, description=description, active=active)
        return cast(
            WebhookEndpoint,
            self._transport.request(
                "PATCH",
                f"/api/v1/webhooks/{path_segment(endpoint_id)}",
                json=body,
                repeatable=True,
            ),
        )

    def delete(self, endpoint_id: int) -> WebhookEndpointDeleted:
        return cast(
            WebhookEndpointDeleted,
            self._transport.request("DELETE", f"/api/v1/webhooks/{path_segment(endpoint_id)}"),
        )

    def rotate_secret(self, endpoint_id: int) -> WebhookEndpointWithSecret:
        """A new secret, shown this once; the previous one also signs for 24 h."""
        return cast(
            WebhookEndpointWithSecret,
            self._transport.request(
                "POST", f"/api/v1/webhooks/{path_segment(endpoint_id)}/rotate-secret"
            ),
        )

    def test(self, endpoint_id: int) -> WebhookTestResult:
        """Send a ``webhook.test`` event now; answers the attempt's outcome."""
        return cast(
            WebhookTestResult,
            self._transport.request("POST", f"/api/v1/webhooks/{path_segment(endpoint_id)}/test"),
        )


class MailPass:
    """The MailPass API with one key.

    ``base_url`` defaults to ``MAILPASS_BASE_URL`` from the environment, else
    ``http://127.0.0.1:8000``. ``max_retries`` bounds the retries of one call (see the module
    ``mailpass._transport`` for what is retried); ``max_retry_wait`` is the longest
    ``Retry-After`` the client waits for. ``http_client`` lets you pass your own
    ``httpx.Client`` (proxies, event hooks, a mounted transport); it is not closed by ``close()``.
    """

    def __init__(
        self,
        api_key: str,
        *,
        base_url: str | None = None,
        timeout: float | httpx.Timeout = 30.0,
        max_retries: int = 2,
        max_retry_wait: float = 60.0,
        http_client: httpx.Client | None = None,
    ) -> None:
        self._transport = Transport(
            api_key=api_key,
            base_url=base_url,
            timeout=timeout,
            max_retries=max_retries,
            max_retry_wait=max_retry_wait,
            http_client=http_client,
        )
        self.mail = Mail(self._transport)
        self.templates = Templates(self._transport)
        self.suppressions = Suppressions(self._transport)
        self.webhooks = Webhooks(self._transport)

    @property
    def base_url(self) -> str:
        return self._transport.base_url

    def close(self) -> None:
        self._transport.close()

    def __enter__(self) -> MailPass:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def _endpoint_body(
    *, url: str | None, events: Sequence[str] | None, description: str | None, active: bool | None
) -> dict[str, Any]:
    """The fields given, as create and update send them (None: left out)."""
    return message_json(
        {
            "url": url,
            "events": list(events) if events is not None else None,
            "description": description,
            "active": active,
        }
    )
