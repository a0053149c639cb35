"""Domain errors that services raise and the API turns into the error envelope.

Services never import DRF: they raise these, and ``mailpass.api.exception_handler`` maps each
to its HTTP status and envelope (API.md section 2).
"""

from typing import Any


class ServiceError(Exception):
    """An error with a stable API code, an HTTP status, and optional details and headers."""

    code = "INTERNAL_ERROR"
    status = 500

    def __init__(
        self,
        message: str,
        *,
        details: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.details = details or {}
        self.headers = headers or {}


class ValidationFailed(ServiceError):
    code = "VALIDATION_ERROR"
    status = 400


class NotFound(ServiceError):
    code = "NOT_FOUND"
    status = 404


class IdempotencyConflict(ServiceError):
    code = "IDEMPOTENCY_CONFLICT"
    status = 409


class NotCancelable(ServiceError):
    """API.md s.14: the message is no longer ``scheduled`` or ``queued``."""

    code = "NOT_CANCELABLE"
    status = 409


class NoSmtpProvider(ServiceError):
    code = "NO_SMTP_PROVIDER"
    status = 422

    def __init__(self, message: str = "No active default SMTP provider is configured.") -> None:
        super().__init__(message)


class RecipientSuppressed(ServiceError):
    """The ``to`` address is on the account's suppression list (API.md s.15)."""

    code = "RECIPIENT_SUPPRESSED"
    status = 422


class SendLimitExceeded(ServiceError):
    code = "SEND_LIMIT_EXCEEDED"
    status = 429


class SendFailed(ServiceError):
    code = "SEND_FAILED"
    status = 500


class ServiceUnavailable(ServiceError):
    code = "SERVICE_UNAVAILABLE"
    status = 503
