"""VERP bounce addresses (API.md section 16.2): ``bounces+{token}@{MAILPASS_BOUNCE_DOMAIN}``.

The token names the message (its primary key in base 36) and carries a truncated HMAC of it
made with SECRET_KEY, so a forged or altered token is recognised without a database lookup.
Lower-case letters, digits and one hyphen: safe in a local part, whatever a server's case
handling, and short (the whole local part stays far below 64 characters).
"""

import hmac
import re

from django.conf import settings
from django.utils.crypto import salted_hmac

LOCAL_PREFIX = "bounces+"
_SALT = "mailpass.feedback.verp"
_TOKEN = re.compile(r"([0-9a-z]{1,13})-([0-9a-f]{16})")


def _base36(number: int) -> str:
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    out = ""
    while True:
        number, rest = divmod(number, 36)
        out = digits[rest] + out
        if not number:
            return out


def _mac(text: str, secret: str | bytes | None = None) -> str:
    return salted_hmac(_SALT, text, secret=secret, algorithm="sha256").hexdigest()[:16]


def verp_token(message_pk: int) -> str:
    pk = _base36(message_pk)
    return f"{pk}-{_mac(pk)}"


def verp_sender(message_pk: int) -> str:
    """The envelope sender of a message; "" when MAILPASS_BOUNCE_DOMAIN is not set."""
    domain = settings.MAILPASS_BOUNCE_DOMAIN
    if not domain:
        return ""
    return f"{LOCAL_PREFIX}{verp_token(message_pk)}@{domain}"


def verp_message_pk(local_part: str) -> int | None:
    """The message a bounce address names, or None when its token is forged or malformed."""
    local_part = local_part.lower()
    if not local_part.startswith(LOCAL_PREFIX):
        return None
    match = _TOKEN.fullmatch(local_part[len(LOCAL_PREFIX) :])
    if match is None:
        return None
    pk, mac = match.groups()
    secrets = [settings.SECRET_KEY, *getattr(settings, "SECRET_KEY_FALLBACKS", [])]
    if not any(hmac.compare_digest(mac, _mac(pk, secret)) for secret in secrets):
        return None
    return int(pk, 36)
