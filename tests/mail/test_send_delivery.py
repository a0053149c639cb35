"""POST /send delivers the real email: headers, parts, envelope (API.md section 3)."""

import email.utils

import pytest

from mail.models import EventType, Message, MessageStatus

SEED_FULL_BODY = {
    "to": "user@example.com",
    "subject": "Order Confirmation",
    "html": "<h1>Your order has been confirmed</h1>",
    "text": "Your order has been confirmed",
    "from_email": "support@yourdomain.com",
    "from_name": "Your App",
    "reply_to": "reply@yourdomain.com",
    "cc": ["cc@example.com"],
    "bcc": ["bcc@example.com"],
    "tags": ["order", "confirmation"],
    "metadata": {"order_id": "12345"},
}

SEED_MINIMAL_BODY = {"to": "user@example.com", "subject": "Hello", "html": "<p>Hello World</p>"}


def send(client, body, **headers):
    return client.post("/api/v1/mail/send", body, format="json", headers=headers)


@pytest.mark.django_db
def test_it_delivers_the_seed_example_with_every_header(alice_client, alice_provider, smtp_server):
    response = send(alice_client, SEED_FULL_BODY)

    assert response.status_code == 200, response.json()
    data = response.json()["data"]
    assert data["status"] == "sent"
    assert data["to"] == "user@example.com"
    assert data["from"] == "support@yourdomain.com"
    assert len(smtp_server.messages) == 1
    received = smtp_server.messages[0]
    mail = received.parsed
    # formataddr quotes a name only when it needs quoting: Your App <...> is the same mailbox.
    (sender,) = mail["From"].addresses
    assert (sender.display_name, sender.addr_spec) == ("Your App", "support@yourdomain.com")
    assert mail["To"] == "user@example.com"
    assert mail["Cc"] == "cc@example.com"
    assert mail["Reply-To"] == "reply@yourdomain.com"
    assert mail["Subject"] == "Order Confirmation"
    assert email.utils.parsedate_to_datetime(mail["Date"]) is not None
    assert mail["Message-ID"] == data["message_id"]
    assert mail["MIME-Version"] == "1.0"
    assert mail.get_content_type() == "multipart/alternative"
    parts = {part.get_content_type(): part.get_content() for part in mail.iter_parts()}
    assert parts["text/plain"].strip() == "Your order has been confirmed"
    assert "<h1>Your order has been confirmed</h1>" in parts["text/html"]
    assert received.mail_from == "support@yourdomain.com"


@pytest.mark.django_db
def test_it_puts_bcc_in_the_envelope_only(alice_client, alice_provider, smtp_server):
    assert send(alice_client, SEED_FULL_BODY).status_code == 200

    received = smtp_server.messages[0]
    assert "Bcc" not in received.parsed
    assert b"bcc@example.com" not in received.raw
    assert sorted(received.rcpt_tos) == ["bcc@example.com", "cc@example.com", "user@example.com"]


@pytest.mark.django_db
def test_it_stores_the_message_and_its_sent_event(alice_client, alice, alice_provider):
    data = send(alice_client, SEED_FULL_BODY).json()["data"]

    message = Message.objects.get(message_id=data["message_id"])
    assert message.account == alice
    assert message.provider == alice_provider
    assert message.status == MessageStatus.SENT
    assert message.sent_at is not None
    assert message.attempts == 1
    assert message.error_message == ""
    assert message.is_test is False
    assert message.limit_counted_at is not None
    assert (message.cc, message.bcc) == (["cc@example.com"], ["bcc@example.com"])
    assert (message.tags, message.metadata) == (["order", "confirmation"], {"order_id": "12345"})
    assert list(message.events.values_list("event_type", flat=True)) == [EventType.SENT]


@pytest.mark.django_db
def test_it_returns_a_message_id_of_the_documented_form(alice_client, alice_provider, settings):
    data = send(alice_client, SEED_MINIMAL_BODY).json()["data"]

    local, _, domain = data["message_id"].strip("<>").partition("@")
    random_part, _, seconds = local.rpartition(".")
    assert domain == settings.MAILPASS_MESSAGE_ID_DOMAIN
    assert len(random_part) >= 16 and seconds.isdigit()


@pytest.mark.django_db
def test_it_sends_the_seed_minimal_curl_body(alice_client, alice_provider, smtp_server):
    response = send(alice_client, SEED_MINIMAL_BODY)

    assert response.status_code == 200, response.json()
    mail = smtp_server.messages[0].parsed
    assert mail.get_content_type() == "text/html"
    assert "<p>Hello World</p>" in mail.get_content()
    assert mail["Subject"] == "Hello"


@pytest.mark.django_db
def test_it_sends_a_text_only_message_as_text_plain(alice_client, alice_provider, smtp_server):
    body = {"to": "user@example.com", "subject": "Plain", "text": "Just text"}

    assert send(alice_client, body).status_code == 200
    mail = smtp_server.messages[0].parsed
    assert mail.get_content_type() == "text/plain"
    assert mail.get_content().strip() == "Just text"


@pytest.mark.django_db
def test_it_keeps_non_ascii_subject_and_sender_name_intact(
    alice_client, alice_provider, smtp_server
):
    body = {
        **SEED_MINIMAL_BODY,
        "subject": "Bestellbestätigung – Größe 😀",
        "from_name": "Müller & Söhne, Zürich",
    }

    assert send(alice_client, body).status_code == 200
    received = smtp_server.messages[0]
    raw_headers = received.raw.split(b"\r\n\r\n", 1)[0]
    assert raw_headers.isascii()  # RFC 2047 encoded words, not raw UTF-8
    mail = received.parsed
    assert mail["Subject"] == "Bestellbestätigung – Größe 😀"
    assert mail["From"].addresses[0].display_name == "Müller & Söhne, Zürich"
    assert mail["From"].addresses[0].addr_spec == "support@yourdomain.com"
    assert len(mail["From"].addresses) == 1  # the comma did not make a second mailbox
