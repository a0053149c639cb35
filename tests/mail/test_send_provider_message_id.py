"""The provider's id in its 250 reply to DATA is kept as the message's provider id (API.md
section 16.1), over a real SMTP server; refusals are classified as before."""

import pytest

from mail.delivery import provider_message_id_from_reply
from mail.models import Message

pytestmark = pytest.mark.django_db


def send(client, **body):
    body = {"to": "user@example.com", "subject": "Hello", "text": "Hi", **body}
    return client.post("/api/v1/mail/send", body, format="json")


@pytest.mark.parametrize(
    ("reply", "expected"),
    [
        (
            "Ok 0100018c2b9e7a1f-6f2c1b8e-3d4a-4b3c-9a0e-1f2e3d4c5b6a-000000",
            "0100018c2b9e7a1f-6f2c1b8e-3d4a-4b3c-9a0e-1f2e3d4c5b6a-000000",
        ),
        ("2.0.0 Ok: queued as 4XyZ9k2Lm1z", "4XyZ9k2Lm1z"),
        ("Ok: queued as FRuXdiTWQgqvqbwCgZM3aA", "FRuXdiTWQgqvqbwCgZM3aA"),
        ("2.0.0 OK <20261201001500.1.abc@mg.example.com>", "20261201001500.1.abc@mg.example.com"),
        ("2.0.0 Message accepted for delivery", ""),
        ("Great success", ""),
        ("OK", ""),
    ],
)
def test_the_id_is_read_from_the_usual_reply_shapes(reply, expected):
    assert provider_message_id_from_reply(reply) == expected


def test_a_send_stores_the_id_of_an_ses_style_reply(alice_client, alice_provider, smtp_server):
    smtp_server.behaviour.data_replies.append("250 Ok 0100018c2b9e7a1f-aaaa-bbbb-000000")
    response = send(alice_client)
    assert response.status_code == 200, response.json()
    message = Message.objects.get()
    assert message.provider_message_id == "0100018c2b9e7a1f-aaaa-bbbb-000000"
    assert len(smtp_server.messages) == 1


def test_a_reply_without_an_id_stores_none(alice_client, alice_provider, smtp_server):
    assert send(alice_client).status_code == 200
    assert Message.objects.get().provider_message_id == ""


def test_a_recipient_refused_while_others_are_accepted_is_still_reported(
    alice_client, alice_provider, smtp_server
):
    smtp_server.behaviour.rcpt_replies["gone@example.com"] = "550 5.1.1 No such user"
    smtp_server.behaviour.data_replies.append("250 2.0.0 Ok: queued as 7AbC")
    response = send(alice_client, cc=["gone@example.com"])
    assert response.status_code == 200
    message = Message.objects.get()
    assert message.provider_message_id == "7AbC"
    sent = message.events.get(event_type="sent")
    assert "gone@example.com" in sent.detail and "550 5.1.1" in sent.detail


def test_a_refused_data_is_still_a_send_failure(alice_client, alice_provider, smtp_server):
    smtp_server.behaviour.data_replies.append("554 5.6.0 Message rejected")
    response = send(alice_client)
    assert response.status_code == 500
    assert response.json()["error"]["code"] == "SEND_FAILED"
    # The connection was reset, not dropped: the next send goes through.
    assert send(alice_client).status_code == 200
