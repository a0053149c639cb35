"""Errors: one class per family of the API's error codes (API.md section 2).

Every error the server answers is an ``APIError`` carrying the server's ``code``, the HTTP
``status``, the ``message`` and the ``details`` object, so callers can branch on a class
(``except mailpass.RateLimitError``) or on the exact code (``err.code == "SEND_LIMIT_EXCEEDED"``).
A request that never got an answer (connection refused, timeout) is ``APIConnectionError``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


class MailPassError(Exception):
    """Base class of every error this library raises."""


class APIConnectionError(MailPassError):
    """No answer from the server (after the retries that were safe to make)."""


class APIError(MailPassError):
    """The server answered an error envelope (or a non-JSON error)."""

    def __init__(
        self,
        message: str,
        *,
        code: str,
        status: int,
        details: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.status = status
        self.details: dict[str, Any] = dict(details or {})
        self.headers: dict[str, str] = {k.lower(): v for k, v in (headers or {}).items()}

    @property
    def retry_after(self) -> float | None:
        """Seconds the server asked to wait (``Retry-After``), None when it did not say."""
        return retry_after_seconds(self.headers.get("retry-after"))

    def __str__(self) -> str:
        return f"{self.code} ({self.status}): {self.message}"

    def __repr__(self) -> str:
        return f"{type(self).__name__}(code={self.code!r}, status={self.status}, message={self.message!r})"


class AuthenticationError(APIError):
    """401 UNAUTHORIZED: missing, malformed, unknown or revoked API key."""


class PermissionDeniedError(APIError):
    """403 FORBIDDEN: the key lacks the endpoint's permission."""


class ValidationError(APIError):
    """The request itself is wrong: VALIDATION_ERROR (400; ``details`` names each field),
    PAYLOAD_TOO_LARGE (413), UNSUPPORTED_MEDIA_TYPE (415), METHOD_NOT_ALLOWED (405)."""


class NotFoundError(APIError):
    """404 NOT_FOUND: no such message, template, suppression or endpoint in this account."""


class ConflictError(APIError):
    """409: IDEMPOTENCY_CONFLICT (the key was used with another body) or NOT_CANCELABLE
    (``details.status`` says where the message is)."""


class UnprocessableError(APIError):
    """422: the account cannot send this: NO_SMTP_PROVIDER or RECIPIENT_SUPPRESSED."""


class RateLimitError(APIError):
    """429: RATE_LIMITED (this key's API rate) or SEND_LIMIT_EXCEEDED (the provider's hourly or
    daily limit; ``details`` has window, limit, remaining, reset_at). ``retry_after`` says when."""


class SendFailedError(APIError):
    """500 SEND_FAILED: the provider refused the message; it is stored as ``failed``."""

    @property
    def message_id(self) -> str | None:
        return self.details.get("message_id")


class ServerError(APIError):
    """SERVICE_UNAVAILABLE (503), INTERNAL_ERROR (500) or any other server-side failure."""


_BY_CODE: dict[str, type[APIError]] = {
    "UNAUTHORIZED": AuthenticationError,
    "FORBIDDEN": PermissionDeniedError,
    "VALIDATION_ERROR": ValidationError,
    "PAYLOAD_TOO_LARGE": ValidationError,
    "UNSUPPORTED_MEDIA_TYPE": ValidationError,
    "METHOD_NOT_ALLOWED": ValidationError,
    "NOT_FOUND": NotFoundError,
    "IDEMPOTENCY_CONFLICT": ConflictError,
    "NOT_CANCELABLE": ConflictError,
    "NO_SMTP_PROVIDER": UnprocessableError,
    "RECIPIENT_SUPPRESSED": UnprocessableError,
    "RATE_LIMITED": RateLimitError,
    "SEND_LIMIT_EXCEEDED": RateLimitError,
    "SEND_FAILED": SendFailedError,
    "SERVICE_UNAVAILABLE": ServerError,
    "INTERNAL_ERROR": ServerError,
}

# A code this version does not know (a newer server) still gets its family from the status.
_BY_STATUS: dict[int, type[APIError]] = {
    400: ValidationError,
    401: AuthenticationError,
    403: PermissionDeniedError,
    404: NotFoundError,
    405: ValidationError,
    409: ConflictError,
    413: ValidationError,
    415: ValidationError,
    422: UnprocessableError,
    429: RateLimitError,
}


def error_class(*, code: str, status: int) -> type[APIError]:
    if code in _BY_CODE:
        return _BY_CODE[code]
    if status in _BY_STATUS:
        return _BY_STATUS[status]
    return ServerError if status >= 500 else APIError


def retry_after_seconds(value: str | None) -> float | None:
    """``Retry-After`` as seconds: the API sends whole seconds; an HTTP date is read too."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    from datetime import datetime, timezone
    from email.utils import parsedate_to_datetime

    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return max(0.0, (when - datetime.now(timezone.utc)).total_seconds())
