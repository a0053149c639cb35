"""MailPass: the Python client of the MailPass transactional email API.

from mailpass import MailPass

client = MailPass("mp_live_...", base_url="https://mail.example.com")
result = client.mail.send(to="user@example.com", subject="Hello", html="<p>Hi</p>")
print(result["message_id"])
"""

__version__ = "0.1.0"

from mailpass.client import MailPass  # noqa: E402
from mailpass.errors import (  # noqa: E402
    APIConnectionError,
    APIError,
    AuthenticationError,
    ConflictError,
    MailPassError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    SendFailedError,
    ServerError,
    UnprocessableError,
    ValidationError,
)

__all__ = [
    "APIConnectionError",
    "APIError",
    "AuthenticationError",
    "ConflictError",
    "MailPass",
    "MailPassError",
    "NotFoundError",
    "PermissionDeniedError",
    "RateLimitError",
    "SendFailedError",
    "ServerError",
    "UnprocessableError",
    "ValidationError",
    "__version__",
]
