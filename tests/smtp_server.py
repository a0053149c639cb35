"""A real SMTP server for tests: aiosmtpd on a free loopback port.

It records every envelope and raw message, and can be told to answer 4xx/5xx at RCPT or DATA,
delay its DATA reply (a slow provider), require AUTH, offer or require STARTTLS, speak implicit
TLS, or go down and come back on the same port.
"""

import asyncio
import datetime
import email
import email.policy
import socket
import ssl
import tempfile
import threading
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP as SMTPServer
from aiosmtpd.smtp import AuthResult, Envelope, LoginPassword, Session


@dataclass
class ReceivedMessage:
    mail_from: str
    rcpt_tos: list[str]
    raw: bytes
    authenticated_as: str | None = None
    tls: bool = False
    # The client's (host, port): messages with the same peer came over one connection.
    peer: tuple | None = None

    @property
    def parsed(self) -> EmailMessage:
        return email.message_from_bytes(self.raw, policy=email.policy.default)

    @property
    def message_id(self) -> str:
        return str(self.parsed["Message-ID"])


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


_CERT_LOCK = threading.Lock()
_CERT_PATHS: tuple[str, str] | None = None


def self_signed_certificate() -> tuple[str, str]:
    """A certificate for 127.0.0.1/localhost, made once per test run with ``cryptography``."""
    global _CERT_PATHS
    with _CERT_LOCK:
        if _CERT_PATHS is not None:
            return _CERT_PATHS
        import ipaddress

        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.x509.oid import NameOID

        key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
        now = datetime.datetime.now(datetime.UTC)
        cert = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=7))
            .add_extension(
                x509.SubjectAlternativeName(
                    [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
                ),
                critical=False,
            )
            .sign(key, hashes.SHA256())
        )
        folder = Path(tempfile.mkdtemp(prefix="mailpass-smtp-cert-"))
        cert_path, key_path = folder / "cert.pem", folder / "key.pem"
        cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        key_path.write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
        _CERT_PATHS = (str(cert_path), str(key_path))
        return _CERT_PATHS


def _server_tls_context() -> ssl.SSLContext:
    cert_path, key_path = self_signed_certificate()
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert_path, key_path)
    return context


@dataclass
class SmtpBehaviour:
    """What the server answers. Mutable while it runs: tests change it between sends."""

    # address -> reply for RCPT TO, e.g. {"gone@example.com": "550 5.1.1 No such user"}
    rcpt_replies: dict[str, str] = field(default_factory=dict)
    # replies for the next DATA commands, consumed one by one (a 2xx one accepts the message
    # with that reply); then 250
    data_replies: list[str] = field(default_factory=list)
    # a reply for every DATA command (after data_replies are used up), e.g. "451 4.3.0 Busy"
    data_reply_always: str | None = None
    # seconds to wait before answering DATA (a slow provider)
    data_delay: float = 0.0
    # While this event is not set, every accepted message is stored and then its 250 is held
    # back (``SmtpTestServer.held`` counts the clients waiting): tests use it to stop senders
    # at a known point (in SMTP, message accepted, answer not yet seen) instead of timing.
    data_gate: threading.Event | None = None


class _Handler:
    def __init__(self, server: "SmtpTestServer") -> None:
        self.server = server

    async def handle_RCPT(self, smtp, session: Session, envelope: Envelope, address, options):
        reply = self.server.behaviour.rcpt_replies.get(address.lower())
        if reply:
            return reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, smtp, session: Session, envelope: Envelope):
        behaviour = self.server.behaviour
        if behaviour.data_delay:
            await asyncio.sleep(behaviour.data_delay)
        with self.server.lock:
            scripted = behaviour.data_replies.pop(0) if behaviour.data_replies else None
        reply = scripted or behaviour.data_reply_always
        if reply and not reply.startswith("2"):
            self.server.rejected += 1
            return reply
        login = (
            session.auth_data.login.decode()
            if isinstance(session.auth_data, LoginPassword)
            else None
        )
        received = ReceivedMessage(
            mail_from=envelope.mail_from,
            rcpt_tos=list(envelope.rcpt_tos),
            raw=envelope.original_content or envelope.content,
            authenticated_as=login,
            tls=session.ssl is not None,
            peer=tuple(session.peer) if session.peer else None,
        )
        with self.server.lock:
            self.server.messages.append(received)
        await self._gate(behaviour.data_gate)
        # A scripted 2xx reply is answered as given (a provider naming its id: "250 Ok <id>").
        return reply or "250 2.0.0 Message accepted for delivery"

    async def _gate(self, gate: threading.Event | None) -> None:
        if gate is None or gate.is_set():
            return
        with self.server.lock:
            self.server.held += 1
        try:
            while not gate.is_set():
                await asyncio.sleep(0.005)  # never block the loop: other sessions go on
        finally:
            with self.server.lock:
                self.server.held -= 1


class SmtpTestServer:
    """Start, stop and restart a configurable aiosmtpd server on one loopback port."""

    def __init__(
        self,
        *,
        starttls: bool = False,
        require_starttls: bool = False,
        implicit_tls: bool = False,
        auth_users: dict[str, str] | None = None,
        auth_required: bool = False,
        port: int | None = None,
    ) -> None:
        self.host = "127.0.0.1"
        self.port = port or free_port()
        self.starttls = starttls or require_starttls
        self.require_starttls = require_starttls
        self.implicit_tls = implicit_tls
        self.auth_users = auth_users or {}
        self.auth_required = auth_required
        self.behaviour = SmtpBehaviour()
        self.messages: list[ReceivedMessage] = []
        self.rejected = 0
        self.auth_attempts = 0
        self.held = 0  # clients whose DATA answer ``behaviour.data_gate`` holds back now
        self.lock = threading.Lock()
        self._controller: Controller | None = None

    # --- lifecycle --------------------------------------------------------------------------
    def start(self) -> "SmtpTestServer":
        server_kwargs: dict = {"ident": "MailPass test SMTP"}
        if self.starttls:
            server_kwargs["tls_context"] = _server_tls_context()
            server_kwargs["require_starttls"] = self.require_starttls
        if self.auth_users or self.auth_required:
            server_kwargs["authenticator"] = self._authenticate
            server_kwargs["auth_required"] = self.auth_required
            # AUTH over plain text only when the test asked for no TLS at all.
            server_kwargs["auth_require_tls"] = self.starttls
        self._controller = Controller(
            _Handler(self),
            hostname=self.host,
            port=self.port,
            ssl_context=_server_tls_context() if self.implicit_tls else None,
            **server_kwargs,
        )
        self._controller.start()
        return self

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    def restart(self) -> None:
        self.stop()
        self.start()

    @property
    def running(self) -> bool:
        return self._controller is not None

    def _authenticate(self, server: SMTPServer, session, envelope, mechanism, auth_data):
        if not isinstance(auth_data, LoginPassword):
            return AuthResult(success=False, handled=False)
        login, password = auth_data.login.decode(), auth_data.password.decode()
        with self.lock:
            self.auth_attempts += 1
        ok = self.auth_users.get(login) == password
        return AuthResult(success=ok, handled=False, auth_data=auth_data)

    # --- reading what arrived -------------------------------------------------------------
    def by_message_id(self, message_id: str) -> list[ReceivedMessage]:
        with self.lock:
            return [m for m in self.messages if m.message_id == message_id]

    def clear(self) -> None:
        with self.lock:
            self.messages.clear()
            self.rejected = 0
