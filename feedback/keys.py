"""Event-webhook verification keys as the providers' consoles show them."""

import base64
import binascii

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

# Kinds whose events are verified with a key the user pastes (SES/SNS needs none).
KEYED_KINDS = frozenset({"sendgrid", "mailgun"})


def sendgrid_public_key_load(key: str) -> ec.EllipticCurvePublicKey:
    """SendGrid's verification key (base64 DER, as its console shows it); ValueError if not."""
    text = "".join(key.split())
    for armour in ("-----BEGIN PUBLIC KEY-----", "-----END PUBLIC KEY-----"):
        text = text.replace(armour, "")
    try:
        loaded = serialization.load_der_public_key(base64.b64decode(text, validate=True))
    except (binascii.Error, ValueError) as exc:
        raise ValueError("not a base64 DER public key") from exc
    if not isinstance(loaded, ec.EllipticCurvePublicKey):
        raise ValueError("not an elliptic-curve (ECDSA) public key")
    return loaded


def webhook_key_problem(*, kind: str, key: str) -> str:
    """Why ``key`` cannot be this kind's webhook key ("" when it can, or when it is empty)."""
    if not key:
        return ""
    if kind not in KEYED_KINDS:
        return "Only SendGrid and Mailgun providers take a webhook verification key."
    if kind == "sendgrid":
        try:
            sendgrid_public_key_load(key)
        except ValueError as exc:
            return f"SendGrid's verification key must be the base64 public key it shows ({exc})."
    return ""
