"""A method a path does not take is 405 before anything else is checked (found by the schema
fuzzing: TRACE with a key lacking the endpoint's permission was a 403)."""

import pytest
from rest_framework.test import APIClient

from accounts.services import api_key_create

PATHS = [
    "/api/v1/mail/send",
    "/api/v1/mail/cancel/%3Cabc123%40mailpass.im%3E",
    "/api/v1/mail/status/abc123@mailpass.im",
    "/api/v1/suppressions",
    "/api/v1/templates",
    "/api/v1/webhooks",
]


@pytest.mark.django_db
@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("who", ["no key", "a key without the permission"])
def test_an_undeclared_method_is_405_whoever_asks(alice, path, who):
    client = APIClient()
    if who != "no key":
        key = api_key_create(account=alice, permissions=["nothing"]).plain_key
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")

    response = client.generic("TRACE", path)

    assert response.status_code == 405
    assert response.json()["error"]["code"] == "METHOD_NOT_ALLOWED"
