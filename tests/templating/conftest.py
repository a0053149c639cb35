import pytest
from rest_framework.test import APIClient

from tests.factories import api_key_for


def _client(user, permissions: list[str]) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {api_key_for(user, permissions=permissions)}")
    return client


@pytest.fixture
def alice_templates(alice) -> APIClient:
    """Alice's client with a key that holds only ``templates``."""
    return _client(alice, ["templates"])


@pytest.fixture
def bob_templates(bob) -> APIClient:
    return _client(bob, ["templates"])
