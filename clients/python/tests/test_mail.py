"""Sending, batches, status and cancel against a running MailPass."""

from __future__ import annotations

import datetime
import time

import pytest

from mailpass import ConflictError, MailPass

pytestmark = pytest.mark.server

PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6300010000050001a5f645400000000049454e44ae426082"
)


def status_wait(client: MailPass, message_id: str, wanted: str) -> dict:
    """The status once it is ``wanted`` (a batch is drained by a worker), within 20 s."""
    deadline = time.monotonic() + 20
    while True:
        status = client.mail.status(message_id)
        if status["message"]["status"] == wanted or time.monotonic() > deadline:
            return status
        time.sleep(0.2)


def test_send_answers_the_message_id_and_status_reads_it_back(client, report):
    result = client.mail.send(
        to="user@example.com",
        subject="Order Confirmation",
        html="<h1>Your order has been confirmed</h1>",
        text="Your order has been confirmed",
        from_email="support@yourdomain.com",
        from_name="Your App",
        reply_to="reply@yourdomain.com",
        cc=["cc@example.com"],
        bcc=["bcc@example.com"],
        tags=["order", "confirmation"],
        metadata={"order_id": "12345"},
        attachments=[
            {"filename": "invoice.txt", "content": b"total: 42\n"},
            {"filename": "logo.png", "content": PNG, "content_id": "logo"},
        ],
        headers={"List-Unsubscribe": "<mailto:unsubscribe@yourdomain.com>"},
    )

    assert result["status"] == "sent"
    assert result["to"] == "user@example.com"
    assert result["from"] == "support@yourdomain.com"
    assert result["suppressed"] == []
    assert result["message_id"].startswith("<") and result["message_id"].endswith(">")
    report("sent_message_id", result["message_id"])
    status = client.mail.status(result["message_id"])
    message = status["message"]
    assert message["message_id"] == result["message_id"]
    assert message["status"] == "sent"
    assert message["subject"] == "Order Confirmation"
    assert message["cc"] == ["cc@example.com"]
    assert message["tags"] == ["order", "confirmation"]
    assert message["metadata"] == {"order_id": "12345"}
    assert [(a["filename"], a["size"], a["content_id"]) for a in message["attachments"]] == [
        ("invoice.txt", 10, None),
        ("logo.png", len(PNG), "logo"),
    ]
    assert [e["event_type"] for e in status["events"]] == ["sent"]


def test_status_takes_the_id_without_brackets(client):
    result = client.mail.send(to="user@example.com", subject="Hi", text="Hello")

    status = client.mail.status(result["message_id"].strip("<>"))

    assert status["message"]["message_id"] == result["message_id"]


def test_a_batch_queues_each_item_in_order_and_reports_a_bad_one(client, report):
    batch = client.mail.send_batch(
        [
            {"to": "a@example.com", "subject": "Hi A", "html": "<p>Hello A</p>"},
            {"to": "b@example.com", "subject": "Hi B", "html": "<p>Hello B</p>"},
            {"to": "not-an-address", "subject": "Hi C", "html": "<p>Hello C</p>"},
        ],
        from_email="support@yourdomain.com",
        tags=["batch"],
    )

    assert (batch["total"], batch["queued"], batch["failed"]) == (3, 2, 1)
    first, second, bad = batch["messages"]
    assert [first["index"], second["index"], bad["index"]] == [0, 1, 2]
    assert first["status"] == second["status"] == "queued"
    assert bad["status"] == "failed"
    assert bad["error"]["code"] == "VALIDATION_ERROR"
    assert "to" in bad["error"]["details"]
    for item in (first, second):
        report("batch_message_id", item["message_id"])
        status = status_wait(client, item["message_id"], "sent")
        assert status["message"]["status"] == "sent"
        assert status["message"]["tags"] == ["batch"]


def test_a_scheduled_send_can_be_canceled_and_is_never_sent(client, report):
    send_at = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(hours=1)

    result = client.mail.send(
        to="later@example.com", subject="Later", text="Not now", send_at=send_at
    )

    assert result["status"] == "scheduled"
    assert result["send_at"] == send_at.strftime("%Y-%m-%dT%H:%M:%SZ")
    canceled = client.mail.cancel(result["message_id"])
    assert canceled == {"message_id": result["message_id"], "status": "canceled"}
    # Canceling again is the same answer (so the client may retry it safely).
    assert client.mail.cancel(result["message_id"])["status"] == "canceled"
    status = client.mail.status(result["message_id"])
    assert status["message"]["status"] == "canceled"
    assert [e["event_type"] for e in status["events"]] == ["scheduled", "canceled"]
    report("canceled_message_id", result["message_id"])


def test_a_sent_message_is_not_cancelable(client):
    result = client.mail.send(to="user@example.com", subject="Now", text="Now")

    with pytest.raises(ConflictError) as caught:
        client.mail.cancel(result["message_id"])

    assert caught.value.code == "NOT_CANCELABLE"
    assert caught.value.status == 409
    assert caught.value.details["status"] == "sent"


def test_a_template_send_renders_with_the_variables(client, unique):
    name = unique("order")
    client.templates.create(
        name=name,
        subject="Order {{ order.id }}",
        html="<p>Thanks, {{ name }}</p>",
        text="Thanks, {{ name }}",
    )

    result = client.mail.send(
        to="user@example.com", template=name, variables={"name": "Ada", "order": {"id": 7}}
    )

    status = client.mail.status(result["message_id"])
    assert status["message"]["subject"] == "Order 7"
    assert status["message"]["template"] == name


def test_the_same_idempotency_key_answers_the_first_send_again(client, report):
    key = f"order-{time.time_ns()}"
    first = client.mail.send(
        to="user@example.com", subject="Once", text="Once", idempotency_key=key
    )
    again = client.mail.send(
        to="user@example.com", subject="Once", text="Once", idempotency_key=key
    )

    assert again == first
    report("idempotent_message_id", first["message_id"])
