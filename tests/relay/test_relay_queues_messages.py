"""A message sent to the relay is queued like a batch item and reaches the provider."""

import email
import email.policy
import re

import pytest
from django.core.mail import EmailMultiAlternatives
from django.core.mail.backends.smtp import EmailBackend

from accounts.models import AccountSettings
from mail.models import EventType, Message
from tests.factories import SmtpProviderFactory, api_key_for
from tests.relay.conftest import simple_message

pytestmark = pytest.mark.django_db(transaction=True)

INVOICE = b"%PDF-1.4\n" + bytes(range(256)) * 40 + b"\r\n.\r\n..\n%%EOF"
QUEUED = re.compile(r"^2\.0\.0 queued as (<[^>]+@[^>]+>)$")


def test_django_email_backend_sends_through_the_relay_with_tracking_and_status(
    relay, alice, alice_key, alice_provider, smtp_server, alice_client
):
    backend = EmailBackend(
        host="127.0.0.1", port=relay.port, username="mailpass", password=alice_key, timeout=10
    )
    mail = EmailMultiAlternatives(
        subject="Your order",
        body="Your order has shipped: https://shop.example.com/o/1",
        from_email="Shop <shop@yourdomain.com>",
        to=["user@example.com"],
        cc=["boss@example.com"],
        bcc=["audit@example.com"],
        headers={"X-MailPass-Tags": "order, shipped", "X-MailPass-Metadata": '{"order": 1}'},
        connection=backend,
    )
    mail.attach_alternative(
        '<p>Your order has <a href="https://shop.example.com/o/1">shipped</a></p>', "text/html"
    )
    mail.attach("invoice.pdf", INVOICE, "application/pdf")
    assert mail.send() == 1

    message = Message.objects.get(account=alice)
    # The eager drain of the test settings sent it right after the enqueue committed.
    (received,) = smtp_server.by_message_id(message.message_id)
    assert sorted(received.rcpt_tos) == [
        "audit@example.com",
        "boss@example.com",
        "user@example.com",
    ]
    parsed = received.parsed
    assert parsed["To"] == "user@example.com"
    assert parsed["Cc"] == "boss@example.com"
    assert parsed["Bcc"] is None
    assert parsed["Subject"] == "Your order"
    assert parsed["From"].addresses[0].addr_spec == "shop@yourdomain.com"
    assert not [name for name in parsed.keys() if name.lower().startswith("x-mailpass-")]
    html = parsed.get_body(("html",)).get_content()
    assert "/t/o/" in html  # the open pixel
    assert "/t/c/" in html and 'href="https://shop.example.com/o/1"' not in html  # the link
    assert "https://shop.example.com/o/1" in parsed.get_body(("plain",)).get_content()
    (attachment,) = parsed.iter_attachments()
    assert attachment.get_filename() == "invoice.pdf"
    assert attachment.get_content_type() == "application/pdf"
    assert attachment.get_content() == INVOICE  # byte for byte

    answer = alice_client.get(f"/api/v1/mail/status/{message.message_id}").json()["data"]
    assert answer["message"]["status"] == "sent"
    assert answer["message"]["tags"] == ["order", "shipped"]
    assert answer["message"]["metadata"] == {"order": 1}
    assert answer["message"]["cc"] == ["boss@example.com"]
    assert [e["event_type"] for e in answer["events"]] == ["queued", "sent"]
    assert answer["message"]["attachments"] == [
        {
            "filename": "invoice.pdf",
            "content_type": "application/pdf",
            "size": len(INVOICE),
            "content_id": None,
        }
    ]


def test_the_final_reply_names_the_message_id_mailpass_wrote(
    smtp_client, alice, alice_key, alice_provider
):
    client = smtp_client(alice_key)
    client.mail("support@yourdomain.com")
    client.rcpt("user@example.com")
    code, reply = client.data(simple_message(extra="Message-ID: <client-made@app.example>\r\n"))
    assert code == 250
    match = QUEUED.match(reply.decode())
    assert match, reply
    message = Message.objects.get(account=alice)
    assert message.message_id == match.group(1) != "<client-made@app.example>"
    assert message.queue_item is not None
    assert message.events.order_by("pk").first().event_type == EventType.QUEUED


def test_headers_and_envelope_make_to_cc_and_bcc(smtp_client, alice, alice_key, alice_provider):
    client = smtp_client(alice_key)
    raw = simple_message(
        to="First <first@example.com>, second@example.com",
        extra="Cc: third@example.com, FIRST@example.com\r\n",
    )
    client.sendmail(
        "bounce@yourdomain.com",
        ["first@example.com", "second@example.com", "third@example.com", "hidden@example.com"],
        raw,
    )
    message = Message.objects.get(account=alice)
    assert message.to_email == "first@example.com"
    assert message.cc == ["second@example.com", "third@example.com"]
    assert message.bcc == ["hidden@example.com"]
    assert (message.from_email, message.from_name) == ("support@yourdomain.com", "Your App")


def test_mailpass_headers_set_tags_metadata_and_tracking(
    smtp_client, alice, alice_key, alice_provider
):
    client = smtp_client(alice_key)
    extra = (
        "X-MailPass-Tags: welcome, onboarding\r\n"
        'X-MailPass-Metadata: {"user_id": 42, "plan": "pro"}\r\n'
        "X-MailPass-Track-Opens: false\r\n"
        "X-MailPass-Track-Clicks: FALSE\r\n"
    )
    client.sendmail("support@yourdomain.com", ["user@example.com"], simple_message(extra=extra))
    message = Message.objects.get(account=alice)
    assert message.tags == ["welcome", "onboarding"]
    assert message.metadata == {"user_id": 42, "plan": "pro"}
    assert (message.track_opens, message.track_clicks) == (False, False)


def test_one_connection_queues_several_messages(smtp_client, alice, alice_key, alice_provider):
    client = smtp_client(alice_key)
    for n in range(3):
        client.sendmail(
            "support@yourdomain.com", [f"u{n}@example.com"], simple_message(to=f"u{n}@example.com")
        )
    assert Message.objects.filter(account=alice, queue_item__isnull=False).count() == 3


def test_a_test_key_queues_like_the_batch_api(smtp_client, alice, alice_provider):
    client = smtp_client(api_key_for(alice, is_test=True))
    client.sendmail("support@yourdomain.com", ["user@example.com"], simple_message())
    assert Message.objects.get(account=alice).is_test is True


def test_an_html_only_message_with_a_non_ascii_subject_is_kept(
    smtp_client, alice, alice_key, alice_provider
):
    mail = email.message.EmailMessage(policy=email.policy.SMTP)
    mail["From"] = "support@yourdomain.com"
    mail["To"] = "user@example.com"
    mail["Subject"] = "Grüße aus Köln"
    mail.set_content("<p>Hallo Welt</p>", subtype="html")
    smtp_client(alice_key).send_message(mail)
    message = Message.objects.get(account=alice)
    assert message.subject == "Grüße aus Köln"
    assert message.html == "<p>Hallo Welt</p>\n"
    assert message.text == ""


def test_inline_images_and_custom_headers_arrive_as_sent(
    smtp_client, alice, alice_key, alice_provider, smtp_server
):
    mail = email.message.EmailMessage(policy=email.policy.SMTP)
    mail["From"] = "support@yourdomain.com"
    mail["To"] = "user@example.com"
    mail["Subject"] = "Logo"
    mail["List-Unsubscribe"] = "<https://yourdomain.com/u/1>"
    mail["X-Campaign"] = "Winter – 2026"
    mail["X-MailPass-Track-Opens"] = "false"
    mail.set_content("Hello")
    mail.add_alternative('<p><img src="cid:logo@shop"> Hello</p>', subtype="html")
    logo = b"\x89PNG\r\n\x1a\n" + bytes(range(256))
    mail.get_payload()[1].add_related(logo, "image", "png", cid="<logo@shop>", filename="logo.png")
    smtp_client(alice_key).send_message(mail)

    message = Message.objects.get(account=alice)
    (received,) = smtp_server.by_message_id(message.message_id)
    parsed = received.parsed
    assert parsed["List-Unsubscribe"] == "<https://yourdomain.com/u/1>"
    assert parsed["X-Campaign"] == "Winter – 2026"
    assert parsed["X-MailPass-Track-Opens"] is None
    html = parsed.get_body(("html",))
    assert 'src="cid:logo@shop"' in html.get_content() and "/t/o/" not in html.get_content()
    related = [p for p in parsed.walk() if p.get_content_type() == "multipart/related"]
    assert related, parsed.as_string()[:2000]
    (image,) = [p for p in parsed.walk() if p.get_content_type() == "image/png"]
    assert image["Content-ID"] == "<logo@shop>"
    assert image.get_content() == logo


def test_tracking_defaults_changed_while_connected_apply_to_the_next_message(
    smtp_client, alice, alice_key, alice_provider
):
    client = smtp_client(alice_key)
    html = "MIME-Version: 1.0\r\nContent-Type: text/html\r\n"
    client.sendmail("support@yourdomain.com", ["user@example.com"], simple_message(extra=html))
    AccountSettings.objects.update_or_create(
        account=alice, defaults={"track_opens": False, "track_clicks": False}
    )
    client.sendmail("support@yourdomain.com", ["user@example.com"], simple_message(extra=html))
    first, second = Message.objects.filter(account=alice).order_by("pk")
    assert (first.track_opens, first.track_clicks) == (True, True)
    assert (second.track_opens, second.track_clicks) == (False, False)


def test_a_message_goes_through_the_provider_mail_read_and_the_drain_handles_a_switch(
    smtp_client, alice, alice_key, alice_provider, smtp_server
):
    client = smtp_client(alice_key)
    client.mail("support@yourdomain.com")
    client.rcpt("user@example.com")
    # Switched off between MAIL and DATA, another default made: the message is still queued
    # (through the provider MAIL read), and the drain sends it through the current default.
    type(alice_provider).objects.filter(pk=alice_provider.pk).update(
        is_active=False, is_default=False
    )
    new_default = SmtpProviderFactory(account=alice, host=smtp_server.host, port=smtp_server.port)
    code, _ = client.data(simple_message())
    assert code == 250
    message = Message.objects.get(account=alice)
    assert message.provider_id == new_default.pk  # the drain's choice, recorded when sent
    assert len(smtp_server.by_message_id(message.message_id)) == 1
