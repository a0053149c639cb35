"""Standard Webhooks signing (https://www.standardwebhooks.com/): one small function.

``webhook-signature`` is ``v1,`` + base64(HMAC-SHA256(key, "{id}.{timestamp}.{body}")), the key
being the base64-decoded part of the secret after ``whsec_``; several signatures are separated by
spaces (during a secret rotation both the new and the previous secret sign).
"""

import base64
import hashlib
import hmac
import secrets

SECRET_PREFIX = "whsec_"
SECRET_BYTES = 32


def secret_generate() -> str:
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode()


def _key(secret: str) -> bytes:
    return base64.b64decode(secret.removeprefix(SECRET_PREFIX))


def signature(*, secret: str, webhook_id: str, timestamp: int, body: bytes) -> str:
    signed = f"{webhook_id}.{timestamp}.".encode() + body
    digest = hmac.new(_key(secret), signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def signed_headers(
    *, secrets_: list[str], webhook_id: str, timestamp: int, body: bytes
) -> dict[str, str]:
    """The three headers of the specification, signed with each of ``secrets_``."""
    return {
        "webhook-id": webhook_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": " ".join(
            signature(secret=secret, webhook_id=webhook_id, timestamp=timestamp, body=body)
            for secret in secrets_
        ),
    }
