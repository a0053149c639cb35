"""Amazon SNS message verification and subscription confirmation (API.md section 16.1).

anymail reads SES events but does not verify SNS signatures; this does, as AWS documents it:
the canonical "Key\\nValue\\n" string of the message's fields, signed with RSA (PKCS#1 v1.5)
and SHA1 (SignatureVersion 1) or SHA256 (2), by the certificate at ``SigningCertURL``. That URL,
and a ``SubscribeURL`` before it is fetched, must match ``MAILPASS_SNS_CERT_URL_PATTERN`` whole,
so a forger cannot point us at a certificate of their own or make us fetch their URLs.
"""

import base64
import binascii
import re
import threading
import time
from datetime import UTC, datetime

import httpx
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from django.conf import settings

# Fields signed, in this order, for each message type (absent optional fields are skipped).
_SIGNED_FIELDS = {
    "Notification": ("Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type"),
    "SubscriptionConfirmation": (
        "Message",
        "MessageId",
        "SubscribeURL",
        "Timestamp",
        "Token",
        "TopicArn",
        "Type",
    ),
}
_SIGNED_FIELDS["UnsubscribeConfirmation"] = _SIGNED_FIELDS["SubscriptionConfirmation"]
_HASHES = {"1": hashes.SHA1, "2": hashes.SHA256}

_FETCH_TIMEOUT = 5.0
_MAX_CERT_BYTES = 64 * 1024
_CACHE_SECONDS = 24 * 3600


class SnsInvalid(Exception):
    """Not a correctly signed SNS message (or a URL outside the pattern): 400, nothing recorded."""


class SnsUnavailable(Exception):
    """The signing certificate or the SubscribeURL could not be fetched: try again later."""


def sns_url_allowed(url: object) -> bool:
    return (
        isinstance(url, str)
        and re.fullmatch(settings.MAILPASS_SNS_CERT_URL_PATTERN, url) is not None
    )


def sns_string_to_sign(message: dict) -> bytes:
    fields = _SIGNED_FIELDS.get(message.get("Type"))
    if fields is None:
        raise SnsInvalid(f"unknown SNS message type {message.get('Type')!r}")
    parts = []
    for name in fields:
        value = message.get(name)
        if value is None and name == "Subject":
            continue
        if not isinstance(value, str):
            raise SnsInvalid(f"SNS field {name} missing or not a string")
        parts.append(f"{name}\n{value}\n")
    return "".join(parts).encode()


class _CertificateCache:
    """Public keys of signing certificates by URL, kept a day (or until the certificate expires)."""

    def __init__(self) -> None:
        self._keys: dict[str, tuple[rsa.RSAPublicKey, float]] = {}
        self._lock = threading.Lock()

    def get(self, url: str) -> rsa.RSAPublicKey:
        now = time.monotonic()
        with self._lock:
            cached = self._keys.get(url)
        if cached is not None and cached[1] > now:
            return cached[0]
        key, lifetime = _certificate_fetch(url)
        with self._lock:
            if len(self._keys) > 100:  # a handful of regions in practice
                self._keys.clear()
            self._keys[url] = (key, now + lifetime)
        return key

    def clear(self) -> None:
        with self._lock:
            self._keys.clear()


certificate_cache = _CertificateCache()


def _certificate_fetch(url: str) -> tuple[rsa.RSAPublicKey, float]:
    try:
        with httpx.Client(timeout=_FETCH_TIMEOUT, follow_redirects=False) as client:
            with client.stream("GET", url) as response:
                if response.status_code != 200:
                    raise SnsUnavailable(f"signing certificate: HTTP {response.status_code}")
                body = b""
                for chunk in response.iter_bytes():
                    body += chunk
                    if len(body) > _MAX_CERT_BYTES:
                        raise SnsInvalid("signing certificate too large")
    except httpx.HTTPError as exc:
        raise SnsUnavailable(f"signing certificate: {exc.__class__.__name__}") from exc
    try:
        certificate = x509.load_pem_x509_certificate(body)
    except ValueError as exc:
        raise SnsInvalid("signing certificate is not a PEM certificate") from exc
    now = datetime.now(UTC)
    if not certificate.not_valid_before_utc <= now <= certificate.not_valid_after_utc:
        raise SnsInvalid("signing certificate is expired or not yet valid")
    key = certificate.public_key()
    if not isinstance(key, rsa.RSAPublicKey):
        raise SnsInvalid("signing certificate has no RSA key")
    lifetime = min(_CACHE_SECONDS, (certificate.not_valid_after_utc - now).total_seconds())
    return key, lifetime


def sns_verify(message: dict) -> None:
    """Raise ``SnsInvalid`` unless the message is signed by the certificate it names."""
    algorithm = _HASHES.get(message.get("SignatureVersion"))
    if algorithm is None:
        raise SnsInvalid("SignatureVersion must be 1 or 2")
    cert_url = message.get("SigningCertURL")
    if not sns_url_allowed(cert_url):
        raise SnsInvalid("SigningCertURL does not match MAILPASS_SNS_CERT_URL_PATTERN")
    signature_text = message.get("Signature")
    if not isinstance(signature_text, str) or not signature_text:
        raise SnsInvalid("Signature missing")
    try:
        signature = base64.b64decode(signature_text, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise SnsInvalid("Signature is not base64") from exc
    signed = sns_string_to_sign(message)
    key = certificate_cache.get(cert_url)
    try:
        key.verify(signature, signed, padding.PKCS1v15(), algorithm())
    except InvalidSignature as exc:
        raise SnsInvalid("bad signature") from exc


def sns_subscription_confirm(message: dict) -> None:
    """Confirm a (verified) subscription by fetching its SubscribeURL, if the pattern allows it."""
    url = message.get("SubscribeURL")
    if not sns_url_allowed(url):
        raise SnsInvalid("SubscribeURL does not match MAILPASS_SNS_CERT_URL_PATTERN")
    try:
        with httpx.Client(timeout=_FETCH_TIMEOUT, follow_redirects=False) as client:
            response = client.get(url)
    except httpx.HTTPError as exc:
        raise SnsUnavailable(f"SubscribeURL: {exc.__class__.__name__}") from exc
    if response.status_code != 200:
        raise SnsUnavailable(f"SubscribeURL: HTTP {response.status_code}")
