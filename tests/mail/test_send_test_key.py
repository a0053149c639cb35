"""A test key (mp_test_) validates and stores like a live key but never opens SMTP and never
counts against send limits (API.md section 7)."""

import pytest

from mail.models import EventType, Message, MessageStatus
from tests.factories import api_key_for

BODY = {"to": "user@example.com", "subject": "Hello", "html": '<p><a href="https://x.io">x</a></p>'}


@pytest.fixture
def test_client(alice, api_client):
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {api_key_for(alice, is_test=True)}")
    return api_client


@pytest.mark.django_db
def test_a_test_key_opens_no_smtp_connection(test_client, alice_provider, smtp_server, monkeypatch):
    def no_smtp(*args, **kwargs):
        raise AssertionError("a test key must not open an SMTP connection")

    monkeypatch.setattr("smtplib.SMTP.connect", no_smtp)
    smtp_server.stop()  # even a dead provider does not matter

    response = test_client.post("/api/v1/mail/send", BODY, format="json")

    assert response.status_code == 200, response.json()
    data = response.json()["data"]
    assert data["status"] == "sent"
    assert data["from"] == "support@yourdomain.com"
    assert smtp_server.messages == []
    message = Message.objects.get(message_id=data["message_id"])
    assert message.is_test is True
    assert message.status == MessageStatus.SENT
    assert message.sent_at is not None
    assert message.limit_counted_at is None
    assert list(message.events.values_list("event_type", flat=True)) == [EventType.SENT]


@pytest.mark.django_db
def test_a_test_key_is_validated_like_a_live_key(test_client, alice_provider):
    response = test_client.post("/api/v1/mail/send", {**BODY, "subject": "a\nb"}, format="json")

    assert response.status_code == 400
    assert "subject" in response.json()["error"]["details"]
    assert not Message.objects.exists()


@pytest.mark.django_db
def test_a_test_key_ignores_a_full_send_limit(
    test_client, alice_client, alice_provider, smtp_server
):
    alice_provider.hourly_limit = 1
    alice_provider.save()
    assert alice_client.post("/api/v1/mail/send", BODY, format="json").status_code == 200
    assert alice_client.post("/api/v1/mail/send", BODY, format="json").status_code == 429

    for _ in range(3):
        assert test_client.post("/api/v1/mail/send", BODY, format="json").status_code == 200

    assert len(smtp_server.messages) == 1
    assert Message.objects.filter(is_test=True).count() == 3
