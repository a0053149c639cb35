"""Custom headers on POST /send and batch items (API.md section 12)."""

import pytest

from mail.models import Message

pytestmark = pytest.mark.django_db


def send(client, headers):
    body = {"to": "user@example.com", "subject": "Hello", "text": "Hi", "headers": headers}
    return client.post("/api/v1/mail/send", body, format="json")


def test_custom_headers_are_written_as_given(alice_client, alice_provider, smtp_server):
    headers = {
        "List-Unsubscribe": "<mailto:unsubscribe@yourdomain.com>",
        "X-Entity-Ref-ID": "order-12345",
        "x-lower-case": "kept as given",
        "X-Grüße": "ignored",
    }
    del headers["X-Grüße"]  # not a header name: see the refusals below

    response = send(alice_client, headers)

    assert response.status_code == 200, response.json()
    received = smtp_server.messages[0]
    for name, value in headers.items():
        assert received.parsed[name] == value
    assert b"\r\nx-lower-case: kept as given\r\n" in received.raw
    message = Message.objects.get(message_id=response.json()["data"]["message_id"])
    assert message.headers == headers


def test_a_non_ascii_value_is_encoded_and_arrives_as_given(
    alice_client, alice_provider, smtp_server
):
    assert send(alice_client, {"X-Greeting": "Grüße aus Köln"}).status_code == 200

    received = smtp_server.messages[0]
    assert received.raw.isascii()
    assert received.parsed["X-Greeting"] == "Grüße aus Köln"


def test_twenty_headers_are_accepted(alice_client, alice_provider, smtp_server):
    headers = {f"X-Header-{n}": str(n) for n in range(20)}

    assert send(alice_client, headers).status_code == 200
    assert smtp_server.messages[0].parsed["X-Header-19"] == "19"


REFUSED = [
    ({"Message-ID": "<mine@example.com>"}, "headers.Message-ID"),
    ({"message-id": "<mine@example.com>"}, "headers.message-id"),
    ({"Bcc": "hidden@example.com"}, "headers.Bcc"),
    ({"From": "ceo@bank.example"}, "headers.From"),
    ({"Sender": "ceo@bank.example"}, "headers.Sender"),
    ({"To": "x@example.com"}, "headers.To"),
    ({"Cc": "x@example.com"}, "headers.Cc"),
    ({"Reply-To": "x@example.com"}, "headers.Reply-To"),
    ({"Subject": "other"}, "headers.Subject"),
    ({"Date": "Mon, 1 Jan 2024 00:00:00 +0000"}, "headers.Date"),
    ({"MIME-Version": "1.0"}, "headers.MIME-Version"),
    ({"Content-Type": "text/plain"}, "headers.Content-Type"),
    ({"Content-Transfer-Encoding": "8bit"}, "headers.Content-Transfer-Encoding"),
    ({"Return-Path": "<x@example.com>"}, "headers.Return-Path"),
    ({"Received": "from x"}, "headers.Received"),
    ({"DKIM-Signature": "v=1"}, "headers.DKIM-Signature"),
    ({"X-MailPass-Account": "1"}, "headers.X-MailPass-Account"),
    ({"x-mailpass-anything": "1"}, "headers.x-mailpass-anything"),
    ({"X-Evil": "a\r\nBcc: hidden@example.com"}, "headers.X-Evil"),
    ({"X-Evil": "a\nb"}, "headers.X-Evil"),
    ({"X-Evil": "a\rb"}, "headers.X-Evil"),
    ({"X Space": "1"}, "headers.X Space"),
    ({"X-Colon:": "1"}, "headers.X-Colon:"),
    ({"X-Grüße": "1"}, "headers.X-Grüße"),
    ({"": "1"}, "headers."),
    ({"X-" + "N" * 99: "1"}, "headers.X-" + "N" * 99),
    ({"X-Number": 1}, "headers.X-Number"),
    ({"X-Null": None}, "headers.X-Null"),
    ({"X-List": ["a"]}, "headers.X-List"),
    ({"X-Long": "v" * 999}, "headers.X-Long"),
    ({f"X-Header-{n}": "1" for n in range(21)}, "headers"),
    ({"X-Twice": "1", "x-twice": "2"}, "headers.x-twice"),
    (["X-Header", "1"], "headers"),
    ("X-Header: 1", "headers"),
]


@pytest.mark.parametrize(("headers", "field"), REFUSED, ids=[f for _, f in REFUSED])
def test_a_bad_header_is_refused_naming_it_and_nothing_is_stored_or_sent(
    alice_client, alice_provider, smtp_server, headers, field
):
    response = send(alice_client, headers)

    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "VALIDATION_ERROR"
    assert list(error["details"]) == [field]
    assert error["message"].startswith(f"{field}: ")
    assert Message.objects.count() == 0
    assert smtp_server.messages == []


def test_a_batch_item_with_a_bad_header_fails_alone(alice_client, alice_provider):
    body = {
        "messages": [
            {"to": "a@example.com", "subject": "A", "text": "Hi", "headers": {"X-Ok": "1"}},
            {"to": "b@example.com", "subject": "B", "text": "Hi", "headers": {"Bcc": "x@y.z"}},
        ]
    }

    response = alice_client.post("/api/v1/mail/send-batch", body, format="json")

    assert response.status_code == 200
    first, second = response.json()["data"]["messages"]
    assert first["status"] == "queued"
    assert Message.objects.get(message_id=first["message_id"]).headers == {"X-Ok": "1"}
    assert second["status"] == "failed"
    assert list(second["error"]["details"]) == ["headers.Bcc"]
    assert Message.objects.count() == 1


def test_headers_are_not_a_batch_default(alice_client, alice_provider):
    body = {"messages": [{"to": "a@example.com", "subject": "A", "text": "Hi"}], "headers": {}}

    response = alice_client.post("/api/v1/mail/send-batch", body, format="json")

    assert response.status_code == 400
    assert list(response.json()["error"]["details"]) == ["headers"]


def test_queued_mail_carries_its_custom_headers(
    alice_client, alice_provider, smtp_server, django_capture_on_commit_callbacks
):
    body = {
        "messages": [
            {"to": "a@example.com", "subject": "A", "text": "Hi", "headers": {"X-Ref": "ä" * 300}}
        ]
    }

    with django_capture_on_commit_callbacks(execute=True):
        response = alice_client.post("/api/v1/mail/send-batch", body, format="json")

    (answer,) = response.json()["data"]["messages"]
    (received,) = smtp_server.by_message_id(answer["message_id"])
    assert received.parsed["X-Ref"] == "ä" * 300
    assert max(len(line) for line in received.raw.split(b"\r\n")) <= 998
