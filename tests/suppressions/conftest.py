import pytest
from rest_framework.test import APIClient

from tests.factories import api_key_for


def _client(key: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    return client


@pytest.fixture
def alice_list_client(alice) -> APIClient:
    """Alice's key with the `suppressions` permission (and `mail`)."""
    return _client(api_key_for(alice, permissions=["mail", "suppressions"]))


@pytest.fixture
def bob_list_client(bob) -> APIClient:
    return _client(api_key_for(bob, permissions=["suppressions"]))


@pytest.fixture
def no_kick(monkeypatch) -> None:
    """Enqueueing does not drain right away (eager mode would): the test drains itself."""
    monkeypatch.setattr("mail.queue.enqueue.queue_drain_kick", lambda **kwargs: None)
