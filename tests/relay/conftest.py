"""Fixtures of the relay tests: the relay in a thread of the test process, and SMTP clients.

The relay's pool threads use their own database connections, so the tests that talk to it
commit their rows (``transaction=True``).
"""

import base64
import smtplib
import ssl
from collections.abc import Callable, Iterator

import pytest

from relay.server import RelayServer, relay_settings
from tests.smtp_server import self_signed_certificate

# The relay's threads and the test must see one database: on SQLite that is not a given.
pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def relay_factory(settings) -> Iterator[Callable[..., RelayServer]]:
    """Start relays on a free port: ``tls=True`` (STARTTLS, self-signed certificate) and/or
    ``allow_plain_auth=True``; every relay is stopped at the end of the test."""
    servers: list[RelayServer] = []

    def start(*, tls: bool = False, allow_plain_auth: bool = False) -> RelayServer:
        cert, key = self_signed_certificate() if tls else ("", "")
        settings.MAILPASS_SMTP_RELAY_TLS_CERT = cert
        settings.MAILPASS_SMTP_RELAY_TLS_KEY = key
        settings.MAILPASS_SMTP_RELAY_ALLOW_PLAIN_AUTH = allow_plain_auth
        server = RelayServer(relay_settings(host="127.0.0.1", port=0)).start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


@pytest.fixture
def relay(relay_factory) -> RelayServer:
    """A relay without TLS that allows AUTH in plain text (the development switch)."""
    return relay_factory(allow_plain_auth=True)


@pytest.fixture
def relay_tls(relay_factory) -> RelayServer:
    """A relay with STARTTLS; AUTH only after it (the production setting)."""
    return relay_factory(tls=True)


def client_tls_context() -> ssl.SSLContext:
    """A client context that trusts the test certificate (and checks it)."""
    return ssl.create_default_context(cafile=self_signed_certificate()[0])


@pytest.fixture
def smtp_client(relay) -> Iterator[Callable[..., smtplib.SMTP]]:
    """``connect(key=None)``: an smtplib client of the plain relay, logged in when given a key."""
    clients: list[smtplib.SMTP] = []

    def connect(key: str | None = None) -> smtplib.SMTP:
        client = smtplib.SMTP("127.0.0.1", relay.port, timeout=10)
        clients.append(client)
        client.ehlo()
        if key is not None:
            client.login("mailpass", key)
        return client

    yield connect
    for client in clients:
        try:
            client.close()
        except Exception:
            pass


def plain_auth(key: str, login: str = "mailpass") -> str:
    return base64.b64encode(f"\0{login}\0{key}".encode()).decode()


def simple_message(
    *, to: str = "user@example.com", subject: str = "Hello", extra: str = "", body: str = "Hi"
) -> str:
    return (
        f"From: Your App <support@yourdomain.com>\r\nTo: {to}\r\nSubject: {subject}\r\n"
        f"{extra}\r\n{body}\r\n"
    )
