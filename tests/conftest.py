"""Shared fixtures: named actors, API clients, and a real SMTP server."""

from collections.abc import Callable, Iterator

import pytest
from rest_framework.test import APIClient

from tests.factories import SmtpProviderFactory, SuperUserFactory, UserFactory, api_key_for
from tests.smtp_server import SmtpTestServer, self_signed_certificate


@pytest.fixture(autouse=True)
def _clear_cache() -> Iterator[None]:
    """Rate-limit counters and other cache entries never leak from one test into another."""
    from django.core.cache import cache

    cache.clear()
    yield


@pytest.fixture(autouse=True)
def _no_webhook_kick(settings) -> None:
    """No background webhook runs behind a test's back (tests/webhooks/test_kick.py turns the
    after-commit kick on where it is under test)."""
    settings.MAILPASS_WEBHOOK_KICK = False


@pytest.fixture(autouse=True)
def _close_kept_smtp_connections() -> Iterator[None]:
    """Single sends keep SMTP connections per thread; none outlives its test."""
    yield
    from mail.connection_reuse import kept_connections_close

    kept_connections_close()


@pytest.fixture
def smtp_server_factory(settings) -> Iterator[Callable[..., SmtpTestServer]]:
    """Start SMTP servers with options (starttls, auth_users, implicit_tls...); all are stopped.

    The test servers' self-signed certificate is the CA the service trusts for SMTP TLS.
    """
    settings.MAILPASS_SMTP_CA_FILE = self_signed_certificate()[0]
    servers: list[SmtpTestServer] = []

    def start(**options) -> SmtpTestServer:
        server = SmtpTestServer(**options).start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


@pytest.fixture
def smtp_server(smtp_server_factory) -> SmtpTestServer:
    """A plain SMTP server (no TLS, no AUTH) recording what it receives."""
    return smtp_server_factory()


@pytest.fixture
def alice(db):
    return UserFactory(username="alice")


@pytest.fixture
def bob(db):
    return UserFactory(username="bob")


@pytest.fixture
def alice_key(alice) -> str:
    return api_key_for(alice)


@pytest.fixture
def alice_provider(alice, smtp_server):
    """Alice's default provider, pointing at the plain test SMTP server."""
    return SmtpProviderFactory(account=alice, host=smtp_server.host, port=smtp_server.port)


@pytest.fixture
def superuser(db):
    return SuperUserFactory(username="root", email="root@example.com")


@pytest.fixture
def superuser_client(superuser, client):
    """Django's test client logged in to the admin as a superuser."""
    client.force_login(superuser)
    return client


@pytest.fixture
def api_client() -> APIClient:
    return APIClient()


@pytest.fixture
def alice_client(alice_key) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {alice_key}")
    return client
