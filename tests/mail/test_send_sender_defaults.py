"""Sender defaults come from the provider; no sender anywhere is a VALIDATION_ERROR."""

import pytest

from mail.models import Message

BODY = {"to": "user@example.com", "subject": "Hello", "html": "<p>Hello World</p>"}


def send(client, body):
    return client.post("/api/v1/mail/send", body, format="json")


@pytest.mark.django_db
def test_it_uses_the_providers_address_and_name(alice_client, alice_provider, smtp_server):
    alice_provider.from_email, alice_provider.from_name = "noreply@shop.example", "Shop"
    alice_provider.save()

    data = send(alice_client, BODY).json()["data"]

    assert data["from"] == "noreply@shop.example"
    assert smtp_server.messages[0].parsed["From"] == "Shop <noreply@shop.example>"
    assert smtp_server.messages[0].mail_from == "noreply@shop.example"


@pytest.mark.django_db
def test_the_requests_sender_wins_over_the_providers(alice_client, alice_provider, smtp_server):
    body = {**BODY, "from_email": "sales@shop.example", "from_name": "Sales"}

    assert send(alice_client, body).json()["data"]["from"] == "sales@shop.example"
    assert smtp_server.messages[0].parsed["From"] == "Sales <sales@shop.example>"


@pytest.mark.django_db
def test_an_empty_from_name_sends_the_bare_address(alice_client, alice_provider, smtp_server):
    assert send(alice_client, {**BODY, "from_name": ""}).status_code == 200
    assert smtp_server.messages[0].parsed["From"] == "support@yourdomain.com"


@pytest.mark.django_db
def test_it_refuses_when_no_sender_address_exists_anywhere(
    alice_client, alice_provider, smtp_server
):
    alice_provider.from_email = ""
    alice_provider.save()

    response = send(alice_client, BODY)

    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "VALIDATION_ERROR"
    assert "from_email" in error["details"]
    assert not Message.objects.exists()
    assert smtp_server.messages == []
