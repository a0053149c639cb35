"""Message ids (API.md section 3) and the forms a caller may write them in (section 5)."""

import secrets
import time
from urllib.parse import unquote

from django.conf import settings


def message_id_generate() -> str:
    """``<{random}.{unix_seconds}@{domain}>``: 22 url-safe random characters (128 bits)."""
    random_part = secrets.token_urlsafe(16)
    return f"<{random_part}.{int(time.time())}@{settings.MAILPASS_MESSAGE_ID_DOMAIN}>"


def message_id_normalize(raw: str) -> str:
    """The stored form (with angle brackets) of an id given bare, bracketed or percent-encoded."""
    value = raw.strip()
    for _ in range(2):  # a client may have encoded it twice
        if "%" not in value:
            break
        value = unquote(value)
    value = value.strip().removeprefix("<").removesuffix(">")
    return f"<{value}>"
