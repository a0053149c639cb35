"""Without an active default SMTP provider, POST /send is 422 NO_SMTP_PROVIDER (test keys too)."""

import pytest

from mail.models import Message
from tests.factories import SmtpProviderFactory, api_key_for

BODY = {"to": "user@example.com", "subject": "Hello", "html": "<p>Hello World</p>"}


def assert_no_provider(response):
    assert response.status_code == 422, response.json()
    assert response.json()["error"]["code"] == "NO_SMTP_PROVIDER"
    assert not Message.objects.exists()


@pytest.mark.django_db
def test_it_answers_422_without_any_provider(alice_client):
    assert_no_provider(alice_client.post("/api/v1/mail/send", BODY, format="json"))


@pytest.mark.django_db
def test_it_answers_422_when_the_default_is_inactive(alice_client, alice_provider, smtp_server):
    alice_provider.is_active = False
    alice_provider.save()

    assert_no_provider(alice_client.post("/api/v1/mail/send", BODY, format="json"))
    assert smtp_server.messages == []


@pytest.mark.django_db
def test_it_answers_422_when_no_provider_is_the_default(alice, alice_client, smtp_server):
    SmtpProviderFactory(
        account=alice, host=smtp_server.host, port=smtp_server.port, is_default=False
    )

    assert_no_provider(alice_client.post("/api/v1/mail/send", BODY, format="json"))


@pytest.mark.django_db
def test_another_accounts_provider_is_not_used(alice_client, bob, smtp_server):
    SmtpProviderFactory(account=bob, host=smtp_server.host, port=smtp_server.port)

    assert_no_provider(alice_client.post("/api/v1/mail/send", BODY, format="json"))
    assert smtp_server.messages == []


@pytest.mark.django_db
def test_a_test_key_gets_422_too(alice, api_client):
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {api_key_for(alice, is_test=True)}")

    assert_no_provider(api_client.post("/api/v1/mail/send", BODY, format="json"))


@pytest.mark.django_db
def test_validation_comes_before_the_provider_check(alice_client):
    response = alice_client.post("/api/v1/mail/send", {"to": "x"}, format="json")

    assert response.status_code == 400
