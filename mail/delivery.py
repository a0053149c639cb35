"""Handing one email to an SMTP connection and telling retryable failures from permanent ones.

Django's ``send_messages`` stops at the first error and ignores recipients the server refused
while accepting others (SENDING-NOTES.md). We open the connection with Django's SMTP backend
and run MAIL/RCPT/DATA ourselves, per message, so each result is known, including the
server's reply to DATA (smtplib's ``sendmail`` drops it): providers name their own id of the
message there (SES ``250 Ok <id>``, SendGrid and Postfix ``250 Ok: queued as <id>``), which
their delivery events use (API.md section 16.1).
"""

import re
import smtplib
import socket
import ssl
from dataclasses import dataclass, field
from email.generator import BytesGenerator
from email.policy import Compat32, compat32
from io import BytesIO

from django.core.mail import EmailMessage
from django.core.mail.backends.smtp import EmailBackend
from django.core.mail.message import sanitize_address

from providers.crypto import SecretDecryptionError
from providers.services import smtp_error_text


class DeliveryError(Exception):
    """SMTP delivery failed. ``permanent`` is true for 5xx answers: retrying will not help."""

    def __init__(
        self,
        message: str,
        *,
        permanent: bool,
        smtp_code: int | None = None,
        refused: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.permanent = permanent
        self.smtp_code = smtp_code
        # Every recipient refused at RCPT: address -> "550 5.1.1 ..." (like DeliveryResult).
        self.refused = refused or {}
        # The connection was gone before the server took MAIL FROM (dropped, reset, or a 421
        # "closing" answer): nothing of this message reached it, another connection may send
        # it at once. Set by ``delivery_send``.
        self.connection_gone = False


@dataclass(frozen=True)
class DeliveryResult:
    """Accepted by the server; ``refused`` lists recipients it refused while accepting others,
    ``reply`` is the text of its 250 reply to DATA."""

    refused: dict[str, str] = field(default_factory=dict)
    reply: str = ""

    @property
    def provider_message_id(self) -> str:
        return provider_message_id_from_reply(self.reply)


_PROVIDER_ID_PATTERNS = (
    # Postfix, SendGrid and many others: "2.0.0 Ok: queued as 4XyZ12"
    re.compile(r"queued as <?([^\s<>]+)>?", re.IGNORECASE),
    # Amazon SES: "Ok 0100018c2b9e...-000000"
    re.compile(r"^(?:\d\.\d{1,3}\.\d{1,3}\s+)?Ok:?\s+<?([\w.@-]{6,})>?\s*$", re.IGNORECASE),
)


def provider_message_id_from_reply(reply: str) -> str:
    """The provider's id of the message in its reply to DATA, or "" when it names none."""
    for pattern in _PROVIDER_ID_PATTERNS:
        match = pattern.search(reply.strip())
        if match:
            return match.group(1)[:255]
    return ""


# A plain ASCII address: a dot-atom local part and a host name of 1..63-character labels.
# ``sanitize_address`` returns such an address unchanged (tests check it), at ~160 µs a call:
# it parses with the email package's header parser. Four calls per message made it one of the
# costliest steps of a single send.
_PLAIN_ADDRESS = re.compile(
    r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*"
    r"@[A-Za-z0-9-]{1,63}(?:\.[A-Za-z0-9-]{1,63})*\Z"
)


def envelope_address(address: str, encoding: str) -> str:
    """``sanitize_address(address, encoding)``, without parsing a plain ASCII address."""
    if _PLAIN_ADDRESS.match(address):
        return address
    return sanitize_address(address, encoding)


def smtp_path(address: str) -> str:
    """``smtplib.quoteaddr(address)`` (``<user@example.com>``), without parsing a plain one."""
    if _PLAIN_ADDRESS.match(address):
        return f"<{address}>"
    return smtplib.quoteaddr(address)


class _Generator(BytesGenerator):
    """The generator of Django's ``as_bytes``, choosing multipart boundaries more cheaply.

    The standard library proves a random boundary absent from the parts by compiling a regular
    expression for it (a new pattern every time, so never cached): a tenth of a millisecond per
    multipart message. A plain search for ``--boundary`` anywhere in the parts is stricter (it
    also refuses occurrences that are not at a line start) and costs next to nothing.
    """

    @classmethod
    def _make_boundary(cls, text=None):
        while True:
            boundary = super()._make_boundary()
            if text is None or b"--" + boundary.encode("ascii") not in text:
                return boundary


_PLAIN_HEADER_VALUE = re.compile(r"[\t\x20-\x7e]*\Z")


class _Compat32(Compat32):
    """``compat32`` (the policy of Django's messages), writing a short header of plain ASCII
    as it is: the standard library folds every header through ``email.header.Header``, which
    returns such a value unchanged (tests check it) after a tenth of the work of a send."""

    def _fold(self, name, value, sanitize):
        if (
            isinstance(value, str)
            and self.max_line_length
            and len(name) + 2 + len(value) <= self.max_line_length
            and _PLAIN_HEADER_VALUE.match(value)
        ):
            return f"{name}: {value}{self.linesep}"
        return super()._fold(name, value, sanitize)


COMPAT32 = _Compat32()


def email_bytes(email: EmailMessage) -> bytes:
    """``email.message().as_bytes()`` with CRLF line ends: the message as sent over SMTP."""
    message = email.message()
    buffer = BytesIO()
    policy = COMPAT32 if message.policy is compat32 else None
    _Generator(buffer, mangle_from_=False, policy=policy).flatten(message, linesep="\r\n")
    return buffer.getvalue()


def _session_end(conn: smtplib.SMTP, code: int) -> None:
    # As smtplib does: 421 means the server is closing; otherwise reset for the next message.
    if code == 421:
        conn.close()
    else:
        conn._rset()


def _sendmail(
    conn: smtplib.SMTP, from_addr: str, to_addrs: list[str], msg: bytes
) -> tuple[dict, str]:
    """``smtplib.SMTP.sendmail`` (same commands, errors and session resets), also returning the
    text of the server's reply to DATA."""
    conn.ehlo_or_helo_if_needed()
    options = [f"size={len(msg)}"] if conn.does_esmtp and conn.has_extn("size") else []
    try:
        # conn.mail() and conn.rcpt(), with the address quoted by smtp_path.
        conn.putcmd("mail", f"FROM:{smtp_path(from_addr)}{''.join(' ' + o for o in options)}")
        code, reply = conn.getreply()
    except (smtplib.SMTPServerDisconnected, ConnectionError) as exc:
        # Not a timeout: a server that is slow to answer may be handling the command.
        raise _ConnectionGone() from exc
    if code != 250:
        _session_end(conn, code)
        if code == 421:
            raise _ConnectionGone() from smtplib.SMTPSenderRefused(code, reply, from_addr)
        raise smtplib.SMTPSenderRefused(code, reply, from_addr)
    refused = {}
    for rcpt in to_addrs:
        conn.putcmd("rcpt", f"TO:{smtp_path(rcpt)}")
        code, reply = conn.getreply()
        if code not in (250, 251):
            refused[rcpt] = (code, reply)
        if code == 421:
            conn.close()
            raise smtplib.SMTPRecipientsRefused(refused)
    if len(refused) == len(to_addrs):
        conn._rset()
        raise smtplib.SMTPRecipientsRefused(refused)
    code, reply = conn.data(msg)
    if code != 250:
        _session_end(conn, code)
        raise smtplib.SMTPDataError(code, reply)
    return refused, reply.decode(errors="replace") if isinstance(reply, bytes) else str(reply)


class _ConnectionGone(Exception):
    """The connection failed at MAIL FROM, the first command of a message (its cause says how)."""


def _is_permanent(code: int | None) -> bool:
    return code is not None and 500 <= code < 600


def delivery_error_from(exc: BaseException) -> DeliveryError:
    """Classify an exception raised while talking SMTP."""
    text = smtp_error_text(exc)
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        codes = [code for code, _ in exc.recipients.values()]
        permanent = bool(codes) and all(_is_permanent(code) for code in codes)
        return DeliveryError(
            text,
            permanent=permanent,
            smtp_code=codes[0] if codes else None,
            refused=_refused_replies(exc.recipients),
        )
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


def delivery_send(
    connection: EmailBackend, email: EmailMessage, *, envelope_from: str = ""
) -> DeliveryResult:
    """Send one email over an open connection (opened here if needed).

    ``envelope_from`` is the MAIL FROM address when it differs from the From header (the VERP
    bounce address of API.md section 16.2).

    Raises ``DeliveryError`` when the server refuses the message or every recipient, or the
    connection fails. A connection that failed is closed, so the caller can reopen it.
    """
    if connection.connection is None:
        delivery_open(connection)
    encoding = email.encoding or "utf-8"
    from_email = envelope_address(envelope_from or email.from_email, encoding)
    recipients = [envelope_address(addr, encoding) for addr in email.recipients()]
    try:
        payload = email_bytes(email)
        refused, reply = _sendmail(connection.connection, from_email, recipients, payload)
    except _ConnectionGone as gone:
        connection.close()
        error = delivery_error_from(gone.__cause__)
        error.connection_gone = True
        raise error from gone.__cause__
    except (smtplib.SMTPException, ssl.SSLError, OSError) as exc:
        error = delivery_error_from(exc)
        # smtplib resets the session after a refused envelope or DATA, so the connection can
        # be reused; anything else (a drop, a timeout, 421 "closing") leaves it unusable.
        refusal = isinstance(exc, (smtplib.SMTPResponseException, smtplib.SMTPRecipientsRefused))
        if not refusal or error.smtp_code == 421:
            connection.close()
        raise error from exc
    return DeliveryResult(refused=_refused_replies(refused), reply=reply)


def _refused_replies(refused: dict) -> dict[str, str]:
    """smtplib's ``{rcpt: (code, reply bytes)}`` as ``{rcpt: "550 5.1.1 ..."}``."""
    return {
        rcpt: f"{code} {text.decode(errors='replace') if isinstance(text, bytes) else text}"
        for rcpt, (code, text) in refused.items()
    }
