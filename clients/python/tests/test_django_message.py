"""How a Django message becomes the fields of POST /send (the conversion alone)."""

from __future__ import annotations

from email.mime.image import MIMEImage

import pytest

PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6300010000050001a5f645400000000049454e44ae426082"
)


@pytest.fixture
def params(django_settings):
    from mailpass.django import message_params

    return message_params


def test_recipients_sender_reply_to_and_headers(params):
    from django.core.mail import EmailMessage

    message = EmailMessage(
        subject="Hi",
        body="Hello",
        from_email="Your App <support@yourdomain.com>",
        to=["Ada <ada@example.com>", "bob@example.com"],
        cc=["cc@example.com"],
        bcc=["audit@example.com"],
        reply_to=["help@yourdomain.com"],
        headers={"X-Order": "12345"},
    )

    assert params(message) == {
        "to": "ada@example.com",
        "cc": ["bob@example.com", "cc@example.com"],
        "bcc": ["audit@example.com"],
        "subject": "Hi",
        "text": "Hello",
        "from_email": "support@yourdomain.com",
        "from_name": "Your App",
        "reply_to": "help@yourdomain.com",
        "headers": {"X-Order": "12345"},
    }


def test_html_alternative_attachments_and_an_inline_image(params):
    from django.core.mail import EmailMultiAlternatives

    message = EmailMultiAlternatives("Hi", "Hello", "support@yourdomain.com", ["a@example.com"])
    message.attach_alternative('<p>Hello <img src="cid:logo"></p>', "text/html")
    message.attach("notes.txt", "plain words", "text/plain")
    image = MIMEImage(PNG, "png")
    image.add_header("Content-ID", "<logo>")
    message.attach(image)

    fields = params(message)

    assert (fields["text"], fields["html"]) == ("Hello", '<p>Hello <img src="cid:logo"></p>')
    assert fields["attachments"] == [
        {"filename": "notes.txt", "content": b"plain words", "content_type": "text/plain"},
        {"filename": "logo.png", "content": PNG, "content_type": "image/png", "content_id": "logo"},
    ]


def test_an_html_body_is_sent_as_html(params):
    from django.core.mail import EmailMessage

    message = EmailMessage("Hi", "<p>Hello</p>", "support@yourdomain.com", ["a@example.com"])
    message.content_subtype = "html"

    fields = params(message)
    assert fields["html"] == "<p>Hello</p>" and "text" not in fields


def test_mailpass_options_set_on_the_message_are_sent(params):
    from django.core.mail import EmailMessage

    message = EmailMessage("Hi", "Hello", "support@yourdomain.com", ["a@example.com"])
    message.tags = ["welcome"]
    message.metadata = {"user_id": 7}
    message.track_clicks = False

    fields = params(message)
    assert (fields["tags"], fields["metadata"], fields["track_clicks"]) == (
        ["welcome"],
        {"user_id": 7},
        False,
    )


def test_what_the_api_cannot_express_is_refused(params):
    from django.core.mail import EmailMessage, EmailMultiAlternatives

    two_reply_to = EmailMessage(
        "Hi", "Hello", "s@yourdomain.com", ["a@example.com"], reply_to=["a@x.com", "b@x.com"]
    )
    with pytest.raises(ValueError, match="one reply-to"):
        params(two_reply_to)
    markdown = EmailMultiAlternatives("Hi", "Hello", "s@yourdomain.com", ["a@example.com"])
    markdown.attach_alternative("# Hello", "text/markdown")
    with pytest.raises(ValueError, match="text/markdown"):
        params(markdown)
