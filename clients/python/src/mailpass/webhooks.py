"""Verify what MailPass posts to your webhook endpoint (API.md section 17).

MailPass signs as the Standard Webhooks specification says: ``webhook-signature`` is ``v1,`` +
base64(HMAC-SHA256(key, "{webhook-id}.{webhook-timestamp}.{body}")), the key being the
base64-decoded secret after ``whsec_``; during a secret rotation two signatures are sent,
space-separated, and either one matching is enough.

    from mailpass.webhooks import verify, WebhookVerificationError

    event = verify(request.body, request.headers, secret="whsec_...")

Pass the body exactly as received (bytes): re-encoded JSON does not match the signature.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import time
from collections.abc import Mapping
from typing import Any

from mailpass.errors import MailPassError

SECRET_PREFIX = "whsec_"
# How far the signed timestamp may be from now, either way: a replayed old request is refused.
DEFAULT_TOLERANCE_SECONDS = 5 * 60


class WebhookVerificationError(MailPassError):
    """The request is not a genuine, fresh MailPass webhook: do not act on it (answer 400)."""


def _header(headers: Mapping[str, str], name: str) -> str:
    for key, value in headers.items():
        if key.lower() == name:
            return value
    raise WebhookVerificationError(f"Missing header {name}.")


def _key(secret: str) -> bytes:
    encoded = secret.removeprefix(SECRET_PREFIX)
    try:
        # Unpadded base64 is read too, as the reference library does.
        return base64.b64decode(encoded + "=" * (-len(encoded) % 4), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ValueError("The secret is not a whsec_ + base64 secret.") from exc


def sign(*, secret: str, webhook_id: str, timestamp: int, payload: bytes | str) -> str:
    """The ``v1,...`` signature of a payload (what MailPass sends; handy in your own tests)."""
    body = payload.encode() if isinstance(payload, str) else payload
    signed = f"{webhook_id}.{timestamp}.".encode() + body
    digest = hmac.new(_key(secret), signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def verify(
    payload: bytes | str,
    headers: Mapping[str, str],
    secret: str,
    *,
    tolerance: float = DEFAULT_TOLERANCE_SECONDS,
    now: float | None = None,
) -> dict[str, Any]:
    """The event (decoded JSON) when the signature matches and is fresh; else raises
    ``WebhookVerificationError``. ``headers`` is any mapping (names are case-insensitive)."""
    webhook_id = _header(headers, "webhook-id")
    timestamp_text = _header(headers, "webhook-timestamp")
    signatures = _header(headers, "webhook-signature")
    try:
        timestamp = int(timestamp_text)
    except ValueError as exc:
        raise WebhookVerificationError("webhook-timestamp is not a number.") from exc
    current = time.time() if now is None else now
    if abs(current - timestamp) > tolerance:
        raise WebhookVerificationError("webhook-timestamp is too old or too new.")
    expected = sign(secret=secret, webhook_id=webhook_id, timestamp=timestamp, payload=payload)
    expected_bytes = expected.encode()
    for candidate in signatures.split():
        if hmac.compare_digest(candidate.encode(), expected_bytes):
            break
    else:
        raise WebhookVerificationError("No signature matches.")
    try:
        event = json.loads(payload)
    except ValueError as exc:
        raise WebhookVerificationError("The body is not JSON.") from exc
    if not isinstance(event, dict):
        raise WebhookVerificationError("The body is not a JSON object.")
    return event
