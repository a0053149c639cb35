"""A development SMTP server: accepts every message, prints a summary, keeps the raw .eml.

``manage.py smtp_sink`` runs it in the foreground; ``manage.py quickstart`` runs it in a
background thread beside the development server. It is never a relay: nothing leaves it.
"""

import email
import email.policy
import re
import socket
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import TextIO

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


class SinkHandler:
    def __init__(self, *, directory: Path, out: TextIO) -> None:
        self.directory = directory
        self.out = out
        self.count = 0
        self._lock = threading.Lock()

    async def handle_DATA(self, server, session, envelope) -> str:
        raw: bytes = envelope.original_content or envelope.content
        parsed = email.message_from_bytes(raw, policy=email.policy.default)
        message_id = str(parsed.get("Message-ID", "")).strip()
        with self._lock:
            self.count += 1
            stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S.%fZ")
            name = f"{stamp}-{_UNSAFE.sub('_', message_id.strip('<>'))[:80] or self.count}.eml"
            path = self.directory / name
            path.write_bytes(raw)
            self.out.write(
                f"--- message {self.count} ---\n"
                f"from:       {envelope.mail_from}\n"
                f"to:         {', '.join(envelope.rcpt_tos)}\n"
                f"subject:    {parsed.get('Subject', '')}\n"
                f"message-id: {message_id}\n"
                f"saved:      {path}\n"
            )
            self.out.flush()
        return "250 2.0.0 Message accepted by the MailPass sink"


def _accept_any_login(server, session, envelope, mechanism, auth_data) -> AuthResult:
    # Providers configured with credentials work against the sink too.
    return AuthResult(success=True)


def sink_start(*, host: str, port: int, directory: Path, out: TextIO) -> Controller:
    """Start the sink in its own thread and return its controller (``stop()`` ends it).

    Raises OSError when the port is taken.
    """
    directory.mkdir(parents=True, exist_ok=True)
    _port_check(host, port)
    controller = Controller(
        SinkHandler(directory=directory, out=out),
        hostname=host,
        port=port,
        ident="MailPass development sink",
        authenticator=_accept_any_login,
        auth_require_tls=False,
    )
    controller.start()
    return controller


def _port_check(host: str, port: int) -> None:
    # aiosmtpd notices a failed bind only after its ready timeout (5 s); answer at once.
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            raise OSError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from exc
