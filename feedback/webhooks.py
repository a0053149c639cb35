"""Provider event webhooks (API.md section 16.1): verify, parse, record.

Payload shapes are read by django-anymail's own event parsers (``esp_to_anymail_event(s)`` of
its SES, SendGrid and Mailgun views: it knows these formats well); its views' authentication
is not used. Verification is ours: SNS signatures (``feedback.sns``), SendGrid's ECDSA key,
Mailgun's HMAC signing key with replay protection.
"""

import base64
import binascii
import hashlib
import hmac
import json
import logging
import time
from collections.abc import Callable, Mapping
from typing import Any

from anymail.exceptions import AnymailError
from anymail.signals import EventType as AnymailEventType
from anymail.webhooks.amazon_ses import AmazonSESTrackingWebhookView
from anymail.webhooks.mailgun import MailgunTrackingWebhookView
from anymail.webhooks.sendgrid import SendGridTrackingWebhookView
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from django.conf import settings
from django.core.cache import cache

from feedback.events import (
    REASON_COMPLAINT,
    REASON_HARD_BOUNCE,
    FeedbackEvent,
    message_id_normalise,
)
from feedback.keys import sendgrid_public_key_load
from feedback.services import IngestResult, feedback_ingest
from feedback.sns import SnsInvalid, SnsUnavailable, sns_subscription_confirm, sns_verify
from mail.models import EventType
from providers.crypto import SecretDecryptionError
from providers.models import ProviderKind, SmtpProvider

logger = logging.getLogger(__name__)

# anymail's parsers, without running their views' __init__ (settings, boto3, warnings): the
# parsing methods use class attributes only.
_SES = object.__new__(AmazonSESTrackingWebhookView)
_SENDGRID = object.__new__(SendGridTrackingWebhookView)
_MAILGUN = object.__new__(MailgunTrackingWebhookView)

# Errors anymail's parsers raise on payloads that do not have the documented shape.
_SHAPE_ERRORS = (AnymailError, KeyError, TypeError, ValueError, AttributeError, IndexError)


class WebhookInvalid(Exception):
    """Unsigned, badly signed, replayed or unparseable: 400, nothing recorded."""

    def __init__(self, message: str, *, field: str = "body") -> None:
        super().__init__(message)
        self.message = message
        self.field = field


class WebhookUnavailable(Exception):
    """Something we depend on (a certificate, a SubscribeURL) failed: the provider retries."""


def webhook_handle(
    *, provider: SmtpProvider, body: bytes, headers: Mapping[str, str]
) -> IngestResult:
    """Verify and record one webhook request of ``provider``; raises the two errors above."""
    handlers = {
        ProviderKind.SES: _ses_events,
        ProviderKind.SENDGRID: _sendgrid_events,
        ProviderKind.MAILGUN: _mailgun_events,
    }
    events, recorded_callback = handlers[provider.kind](
        provider=provider, body=body, headers=headers
    )
    result = IngestResult()
    if events:
        result = feedback_ingest(
            account_id=provider.account_id, provider_id=provider.pk, events=events
        )
    if recorded_callback is not None:
        recorded_callback()
    return result


def _json(body: bytes) -> Any:
    try:
        return json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise WebhookInvalid("The body is not valid JSON.") from exc


def _text(value: Any) -> str:
    return value.strip() if isinstance(value, str) else ""


def _detail(*parts: Any) -> str:
    return ": ".join(text for text in (_text(part) for part in parts) if text)


# --- Amazon SES over SNS --------------------------------------------------------------------


Parsed = tuple[list[FeedbackEvent], Callable[[], None] | None]


def _ses_events(*, provider, body: bytes, headers: Mapping[str, str]) -> Parsed:
    message = _json(body)
    if not isinstance(message, dict):
        raise WebhookInvalid("The body is not an SNS message.")
    header_type = headers.get("x-amz-sns-message-type")
    if header_type is not None and header_type != message.get("Type"):
        raise WebhookInvalid("x-amz-sns-message-type does not match the message Type.")
    try:
        sns_verify(message)
        if message["Type"] == "SubscriptionConfirmation":
            sns_subscription_confirm(message)
            logger.info(
                "confirmed SNS subscription to %s for provider %s",
                message.get("TopicArn"),
                provider.pk,
            )
            return [], None
    except SnsInvalid as exc:
        raise WebhookInvalid(f"SNS verification failed: {exc}", field="Signature") from exc
    except SnsUnavailable as exc:
        raise WebhookUnavailable(str(exc)) from exc
    if message["Type"] != "Notification":
        return [], None  # UnsubscribeConfirmation: nothing to record
    try:
        ses_event = json.loads(message["Message"])
    except ValueError as exc:
        # The text notification SES sends when a topic is set up for event publishing.
        if message["Message"].startswith("Successfully validated SNS topic"):
            return [], None
        raise WebhookInvalid("The SNS Message is not an SES event.", field="Message") from exc
    if not isinstance(ses_event, dict):
        raise WebhookInvalid("The SNS Message is not an SES event.", field="Message")
    try:
        parsed = _SES.esp_to_anymail_events(ses_event, message)
        common = ses_event.get("mail") or {}
        header_id = (common.get("commonHeaders") or {}).get("messageId") or next(
            (
                header.get("value")
                for header in common.get("headers") or []
                if str(header.get("name", "")).lower() == "message-id"
            ),
            "",
        )
        bounce_type = (ses_event.get("bounce") or {}).get("bounceType", "")
    except _SHAPE_ERRORS as exc:
        raise WebhookInvalid(
            "The SES event does not have the documented shape.", field="Message"
        ) from exc
    events = []
    for event in parsed:
        if not isinstance(event.recipient, str) or not event.recipient:
            continue
        if event.event_type == AnymailEventType.DELIVERED:
            kind, suppress = EventType.DELIVERED, ""
        elif event.event_type == AnymailEventType.BOUNCED:
            # Permanent -> bounced (and suppressed); Transient or Undetermined -> deferred.
            permanent = bounce_type == "Permanent"
            kind = EventType.BOUNCED if permanent else EventType.DEFERRED
            suppress = REASON_HARD_BOUNCE if permanent else ""
        elif event.event_type == AnymailEventType.COMPLAINED:
            kind, suppress = EventType.COMPLAINED, REASON_COMPLAINT
        else:
            continue  # Send, Open, Click...: not feedback of section 16
        events.append(
            FeedbackEvent(
                event_type=kind,
                recipient=event.recipient,
                event_id=f"sns:{event.event_id}",
                detail=_detail(event.description, event.mta_response) or kind,
                message_id=message_id_normalise(header_id),
                provider_message_id=_text(event.message_id),
                suppress=suppress,
            )
        )
    return events, None


# --- SendGrid -------------------------------------------------------------------------------


def _webhook_key(provider: SmtpProvider) -> str:
    try:
        return provider.webhook_key
    except SecretDecryptionError as exc:
        raise WebhookUnavailable("the webhook key cannot be decrypted") from exc


def _sendgrid_events(*, provider, body: bytes, headers: Mapping[str, str]) -> Parsed:
    key = _webhook_key(provider)
    if key:
        signature = headers.get("x-twilio-email-event-webhook-signature", "")
        timestamp = headers.get("x-twilio-email-event-webhook-timestamp", "")
        if not signature or not timestamp:
            raise WebhookInvalid("The SendGrid signature headers are missing.", field="signature")
        try:
            sendgrid_public_key_load(key).verify(
                base64.b64decode(signature, validate=True),
                timestamp.encode() + body,
                ec.ECDSA(hashes.SHA256()),
            )
        except (binascii.Error, ValueError, InvalidSignature) as exc:
            raise WebhookInvalid("The SendGrid signature is not valid.", field="signature") from exc
    payload = _json(body)
    if not isinstance(payload, list) or not all(isinstance(item, dict) for item in payload):
        raise WebhookInvalid("The body is not a SendGrid event array.")
    events = []
    for index, item in enumerate(payload):
        try:
            parsed = _SENDGRID.esp_to_anymail_event(item)
        except _SHAPE_ERRORS as exc:
            raise WebhookInvalid(
                f"Event {index} does not have the documented shape.", field=f"{index}"
            ) from exc
        name = item.get("event")
        if name == "delivered":
            kind, suppress = EventType.DELIVERED, ""
        elif name in ("bounce", "blocked"):
            # "blocked" (an event of its own, or a bounce of type blocked) is bounced, not suppressed.
            blocked = name == "blocked" or item.get("type") == "blocked"
            kind, suppress = EventType.BOUNCED, "" if blocked else REASON_HARD_BOUNCE
        elif name == "dropped":
            kind, suppress = EventType.FAILED, ""
        elif name == "deferred":
            kind, suppress = EventType.DEFERRED, ""
        elif name == "spamreport":
            kind, suppress = EventType.COMPLAINED, REASON_COMPLAINT
        else:
            continue
        event_id = _text(parsed.event_id)
        if not event_id or not isinstance(parsed.recipient, str):
            raise WebhookInvalid(f"Event {index} has no sg_event_id or email.", field=f"{index}")
        sg_message_id = _text(item.get("sg_message_id"))
        events.append(
            FeedbackEvent(
                event_type=kind,
                recipient=parsed.recipient,
                event_id=f"sendgrid:{event_id}",
                detail=_detail(item.get("status"), parsed.mta_response) or name,
                message_id=message_id_normalise(_text(item.get("smtp-id"))),
                # "<X-Message-Id>.filterdrecv-...": the id SendGrid's 250 reply named.
                provider_message_id=sg_message_id.split(".", 1)[0],
                suppress=suppress,
            )
        )
    return events, None


# --- Mailgun --------------------------------------------------------------------------------


def _mailgun_events(*, provider, body: bytes, headers: Mapping[str, str]) -> Parsed:
    key = _webhook_key(provider)
    if not key:
        raise WebhookInvalid(
            "The provider has no Mailgun webhook signing key: events cannot be verified.",
            field="signature",
        )
    payload = _json(body)
    if not isinstance(payload, dict):
        raise WebhookInvalid("The body is not a Mailgun webhook.")
    block = payload.get("signature")
    if not isinstance(block, dict):
        raise WebhookInvalid("The Mailgun signature block is missing.", field="signature")
    token, timestamp, signature = (
        _text(block.get("token")),
        _text(str(block.get("timestamp", ""))),
        _text(block.get("signature")),
    )
    expected = hmac.new(key.encode(), f"{timestamp}{token}".encode(), hashlib.sha256).hexdigest()
    if not token or not hmac.compare_digest(signature.lower(), expected):
        raise WebhookInvalid("The Mailgun signature is not valid.", field="signature")
    try:
        age = abs(time.time() - float(timestamp))
    except ValueError as exc:
        raise WebhookInvalid("The Mailgun timestamp is not a number.", field="signature") from exc
    if age > settings.MAILPASS_FEEDBACK_MAX_AGE_SECONDS:
        raise WebhookInvalid("The Mailgun signature is too old (replayed?).", field="signature")
    # A token is used once. It is marked used only once its event is recorded, so a request
    # that failed (database down) can be retried; two copies racing each other are recorded
    # once anyway (the event id is unique per message).
    digest = hashlib.sha256(token.encode()).hexdigest()
    replay_key = f"feedback:mailgun-token:{provider.pk}:{digest}"
    try:
        seen = cache.get(replay_key) is not None
    except Exception as exc:  # the cache is down: the age check and event ids still hold
        logger.warning("Mailgun token reuse not checked, cache unavailable: %s", exc)
        seen = False
    if seen:
        raise WebhookInvalid("The Mailgun token was already used (replayed).", field="signature")

    def token_used() -> None:
        try:
            cache.set(replay_key, 1, timeout=2 * settings.MAILPASS_FEEDBACK_MAX_AGE_SECONDS + 60)
        except Exception as exc:
            logger.warning("Mailgun token not marked used, cache unavailable: %s", exc)

    return _mailgun_parse(payload), token_used


def _mailgun_parse(payload: dict) -> list[FeedbackEvent]:
    data = payload.get("event-data")
    if not isinstance(data, dict):
        raise WebhookInvalid("event-data is missing.", field="event-data")
    try:
        parsed = _MAILGUN.esp_to_anymail_event(payload)
    except _SHAPE_ERRORS as exc:
        raise WebhookInvalid(
            "event-data does not have the documented shape.", field="event-data"
        ) from exc
    name, severity = data.get("event"), data.get("severity")
    if name == "delivered":
        kind, suppress = EventType.DELIVERED, ""
    elif name == "failed" and severity == "permanent":
        kind, suppress = EventType.BOUNCED, REASON_HARD_BOUNCE
    elif name == "failed":
        kind, suppress = EventType.DEFERRED, ""
    elif name == "complained":
        kind, suppress = EventType.COMPLAINED, REASON_COMPLAINT
    else:
        return []
    event_id = _text(data.get("id"))
    if not event_id or not isinstance(parsed.recipient, str) or not parsed.recipient:
        raise WebhookInvalid("event-data has no id or recipient.", field="event-data")
    status = data.get("delivery-status") if isinstance(data.get("delivery-status"), dict) else {}
    return [
        FeedbackEvent(
            event_type=kind,
            recipient=parsed.recipient,
            event_id=f"mailgun:{event_id}",
            detail=_detail(str(status.get("code") or ""), parsed.mta_response or parsed.description)
            or name,
            message_id=message_id_normalise(_text(parsed.message_id)),
            suppress=suppress,
        )
    ]
