"""A Django app's mail goes through the API with ``mailpass.django.EmailBackend``.

The parent test parses what the SMTP sink received for the message noted here.
"""

from __future__ import annotations

import os
from email.mime.image import MIMEImage

import pytest

from mailpass import AuthenticationError

pytestmark = pytest.mark.server

PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6300010000050001a5f645400000000049454e44ae426082"
)
PDF = b"%PDF-1.4\n% MailPass test invoice\n" + bytes(range(256)) + b"\n%%EOF\n"


def test_send_mail_goes_through_the_api(django_settings, report):
    from django.core.mail import get_connection, send_mail

    connection = get_connection()
    sent = send_mail(
        "Plain hello",
        "Hello from Django",
        "support@yourdomain.com",
        ["django-plain@example.com"],
        connection=connection,
    )

    assert sent == 1


def test_a_multipart_message_with_attachment_and_inline_image(django_settings, report):
    from django.core.mail import EmailMultiAlternatives

    message = EmailMultiAlternatives(
        subject="Your invoice",
        body="Your invoice is attached.",
        from_email="Billing <billing@yourdomain.com>",
        to=["Ada <ada@example.com>", "bob@example.com"],
        cc=["accounts@example.com"],
        bcc=["audit@example.com"],
        reply_to=["help@yourdomain.com"],
        headers={"X-Order": "12345"},
    )
    message.attach_alternative(
        '<p>Your invoice is attached.</p><img src="cid:logo" alt="logo">', "text/html"
    )
    message.attach("invoice.pdf", PDF, "application/pdf")
    image = MIMEImage(PNG, "png")
    image.add_header("Content-ID", "<logo>")
    image.add_header("Content-Disposition", "inline", filename="logo.png")
    message.attach(image)

    assert message.send() == 1

    result = message.mailpass_result
    assert result["status"] == "sent"
    report("django_message_id", result["message_id"])


def test_an_api_error_raises_unless_fail_silently(django_settings):
    from django.core.mail import get_connection, send_mail

    bad_key = "mp_live_" + "x" * 43
    with pytest.raises(AuthenticationError):
        send_mail(
            "Hi",
            "Hello",
            "support@yourdomain.com",
            ["a@example.com"],
            connection=get_connection(api_key=bad_key),
        )

    quiet = get_connection(api_key=bad_key, fail_silently=True)
    assert send_mail("Hi", "Hello", "s@yourdomain.com", ["a@example.com"], connection=quiet) == 0


def test_the_base_url_comes_from_the_environment(django_settings):
    from django.core.mail import get_connection

    connection = get_connection()
    connection.open()
    assert connection.client.base_url == os.environ["MAILPASS_BASE_URL"].rstrip("/")
    connection.close()
