"""The message row is committed as ``sending`` before SMTP starts and SMTP runs outside any
transaction, so a crash mid-send leaves the row (API.md section 3)."""

import pytest
from django.db import connection

# The single send talks SMTP through mail.connection_reuse (its kept connections).
from mail import connection_reuse
from mail.models import Message, MessageStatus

BODY = {"to": "user@example.com", "subject": "Hello", "html": "<p>Hello World</p>"}


@pytest.mark.django_db(transaction=True)
def test_the_row_is_committed_as_sending_before_smtp_and_smtp_runs_outside_a_transaction(
    alice_client, alice_provider, monkeypatch
):
    seen = {}
    real_send = connection_reuse.delivery_send

    def observing_send(conn, email, **options):
        seen["in_transaction"] = connection.in_atomic_block
        seen["status"] = Message.objects.get().status
        seen["counted"] = Message.objects.get().limit_counted_at is not None
        return real_send(conn, email, **options)

    monkeypatch.setattr(connection_reuse, "delivery_send", observing_send)

    assert alice_client.post("/api/v1/mail/send", BODY, format="json").status_code == 200
    assert seen == {"in_transaction": False, "status": MessageStatus.SENDING, "counted": True}


@pytest.mark.django_db(transaction=True)
def test_a_crash_during_smtp_leaves_the_row(alice_client, alice_provider, monkeypatch):
    def process_dies(conn, email, **options):
        raise SystemExit("worker killed")

    monkeypatch.setattr(connection_reuse, "delivery_send", process_dies)

    with pytest.raises(SystemExit):
        alice_client.post("/api/v1/mail/send", BODY, format="json")

    message = Message.objects.get()
    assert message.status == MessageStatus.SENDING


@pytest.mark.django_db
def test_an_unexpected_error_marks_the_message_failed(alice_client, alice_provider, monkeypatch):
    def broken(conn, email, **options):
        raise ValueError("bug")

    monkeypatch.setattr(connection_reuse, "delivery_send", broken)
    alice_client.raise_request_exception = False

    response = alice_client.post("/api/v1/mail/send", BODY, format="json")

    assert response.status_code == 500
    assert response.json()["error"]["code"] == "INTERNAL_ERROR"
    message = Message.objects.get()
    assert message.status == MessageStatus.FAILED
    assert message.error_message == "internal error: ValueError"


@pytest.mark.django_db
def test_the_schema_documents_the_send_endpoint(api_client):
    schema = api_client.get("/api/v1/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")

    assert schema.status_code == 200
    text = schema.content.decode()
    assert "/api/v1/mail/send" in text
    assert "MessageInput" in text
    assert "Idempotency-Key" in text
