"""Handing one email to an SMTP connection and telling retryable failures from permanent ones.

Django's ``send_messages`` stops at the first error and ignores recipients the server refused
while accepting others (SENDING-NOTES.md). We open the connection with Django's SMTP backend
and call ``sendmail`` ourselves, per message, so each result is known.
"""

import smtplib
import socket
import ssl
from dataclasses import dataclass, field

from django.core.mail import EmailMessage
from django.core.mail.backends.smtp import EmailBackend
from django.core.mail.message import sanitize_address

from providers.crypto import SecretDecryptionError
from providers.services import smtp_error_text


class DeliveryError(Exception):
    """SMTP delivery failed. ``permanent`` is true for 5xx answers: retrying will not help."""

    def __init__(self, message: str, *, permanent: bool, smtp_code: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.permanent = permanent
        self.smtp_code = smtp_code


@dataclass(frozen=True)
class DeliveryResult:
    """Accepted by the server; ``refused`` lists recipients it refused while accepting others."""

    refused: dict[str, str] = field(default_factory=dict)


def _is_permanent(code: int | None) -> bool:
    return code is not None and 500 <= code < 600


def delivery_error_from(exc: BaseException) -> DeliveryError:
    """Classify an exception raised while talking SMTP."""
    text = smtp_error_text(exc)
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        codes = [code for code, _ in exc.recipients.values()]
        permanent = bool(codes) and all(_is_permanent(code) for code in codes)
        return DeliveryError(text, permanent=permanent, smtp_code=codes[0] if codes else None)
    if isinstance(exc, smtplib.SMTPResponseException):
        return DeliveryError(text, permanent=_is_permanent(exc.smtp_code), smtp_code=exc.smtp_code)
    if isinstance(exc, (smtplib.SMTPServerDisconnected, socket.timeout, TimeoutError)):
        return DeliveryError(text or "connection timed out or dropped", permanent=False)
    if isinstance(exc, (ssl.SSLError, OSError, smtplib.SMTPException)):
        return DeliveryError(text, permanent=False)
    return DeliveryError(text, permanent=False)


def delivery_open(connection: EmailBackend) -> None:
    """Open (connect, TLS, login) or raise ``DeliveryError``."""
    try:
        connection.open()
    except SecretDecryptionError as exc:
        connection.close()
        # A configuration problem, not the server's answer: retryable once the key is fixed.
        raise DeliveryError(str(exc), permanent=False) from exc
    except (smtplib.SMTPException, ssl.SSLError, OSError) as exc:
        connection.close()
        raise delivery_error_from(exc) from exc


def delivery_send(connection: EmailBackend, email: EmailMessage) -> DeliveryResult:
    """Send one email over an open connection (opened here if needed).

    Raises ``DeliveryError`` when the server refuses the message or every recipient, or the
    connection fails. A connection that failed is closed, so the caller can reopen it.
    """
    if connection.connection is None:
        delivery_open(connection)
    encoding = email.encoding or "utf-8"
    from_email = sanitize_address(email.from_email, encoding)
    recipients = [sanitize_address(addr, encoding) for addr in email.recipients()]
    try:
        payload = email.message().as_bytes(linesep="\r\n")
        refused = connection.connection.sendmail(from_email, recipients, payload)
    except (smtplib.SMTPException, ssl.SSLError, OSError) as exc:
        error = delivery_error_from(exc)
        # smtplib resets the session after a refused envelope or DATA, so the connection can
        # be reused; anything else (a drop, a timeout, 421 "closing") leaves it unusable.
        refusal = isinstance(exc, (smtplib.SMTPResponseException, smtplib.SMTPRecipientsRefused))
        if not refusal or error.smtp_code == 421:
            connection.close()
        raise error from exc
    return DeliveryResult(
        refused={
            rcpt: f"{code} {reply.decode(errors='replace') if isinstance(reply, bytes) else reply}"
            for rcpt, (code, reply) in refused.items()
        }
    )
