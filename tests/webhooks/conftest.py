"""Fixtures of the webhook tests: a real receiver on loopback, keys with `webhooks`."""

from collections.abc import Callable, Iterator

import pytest
from rest_framework.test import APIClient

from tests.factories import api_key_for
from tests.mail.conftest import child_env, enqueue, no_kick  # noqa: F401  (shared fixtures)
from tests.webhooks.receiver import Receiver
from webhooks.models import WebhookEndpoint
from webhooks.signing import secret_generate


@pytest.fixture
def allow_private(settings) -> None:
    """The receivers listen on loopback."""
    settings.MAILPASS_WEBHOOK_ALLOW_PRIVATE_NETWORKS = True


@pytest.fixture
def receiver_factory() -> Iterator[Callable[[], Receiver]]:
    receivers: list[Receiver] = []

    def start() -> Receiver:
        receiver = Receiver().start()
        receivers.append(receiver)
        return receiver

    yield start
    for receiver in receivers:
        receiver.stop()


@pytest.fixture
def receiver(receiver_factory) -> Receiver:
    return receiver_factory()


@pytest.fixture
def hooks_client(alice) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {api_key_for(alice, permissions=['webhooks'])}")
    return client


@pytest.fixture
def endpoint_factory() -> Callable[..., tuple[WebhookEndpoint, str]]:
    """An endpoint stored directly (no address check): returns it and its plain secret."""

    def make(*, account, url: str, events: list[str] | None = None, **fields):
        secret = secret_generate()
        endpoint = WebhookEndpoint(account=account, url=url, events=events or [], **fields)
        endpoint.secret = secret
        endpoint.save()
        return endpoint, secret

    return make
