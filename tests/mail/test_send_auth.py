"""POST /send needs a key with the ``mail`` permission (API.md section 1)."""

import pytest

from mail.models import Message
from tests.factories import api_key_for

BODY = {"to": "user@example.com", "subject": "Hello", "html": "<p>Hello World</p>"}


@pytest.mark.django_db
def test_it_answers_401_without_a_key(api_client, alice_provider, smtp_server):
    response = api_client.post("/api/v1/mail/send", BODY, format="json")

    assert response.status_code == 401
    assert response.json()["error"]["code"] == "UNAUTHORIZED"
    assert smtp_server.messages == []


@pytest.mark.django_db
def test_it_answers_403_for_a_key_without_the_mail_permission(
    alice, api_client, alice_provider, smtp_server
):
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {api_key_for(alice, permissions=[])}")

    response = api_client.post("/api/v1/mail/send", BODY, format="json")

    assert response.status_code == 403
    assert response.json()["error"]["code"] == "FORBIDDEN"
    assert not Message.objects.exists()


@pytest.mark.django_db
def test_it_answers_405_for_get(alice_client):
    response = alice_client.get("/api/v1/mail/send")

    assert response.status_code == 405
    assert response.json()["error"]["code"] == "METHOD_NOT_ALLOWED"


@pytest.mark.django_db
def test_a_trailing_slash_is_tolerated(alice_client, alice_provider):
    assert alice_client.post("/api/v1/mail/send/", BODY, format="json").status_code == 200
