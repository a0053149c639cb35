"""Building the real email of a stored message (API.md section 3): one code path for all sends."""

from email.utils import formataddr

from django.core.mail import EmailMultiAlternatives

from mail.models import Message
from mail.tracking import html_add_tracking


def message_sender(message: Message) -> str:
    """``From`` value; formataddr quotes or RFC 2047-encodes the name so it cannot smuggle
    extra mailboxes (``Support, ceo@bank.example``)."""
    if message.from_name:
        return formataddr((message.from_name, message.from_email), charset="utf-8")
    return message.from_email


def email_build(message: Message) -> EmailMultiAlternatives:
    """The Django email for a stored message.

    The Message-ID header is ours (stored, returned by the API), never Django's. Bcc goes to
    the envelope only: Django's ``bcc`` never writes a header.
    """
    html = message.html
    if html and not message.is_test:
        html = html_add_tracking(
            html,
            message_pk=message.pk,
            track_opens=message.track_opens,
            track_clicks=message.track_clicks,
        )
    if message.text:
        email = EmailMultiAlternatives(body=message.text)
        if html:
            email.attach_alternative(html, "text/html")
    else:
        email = EmailMultiAlternatives(body=html)
        email.content_subtype = "html"
    email.subject = message.subject
    email.from_email = message_sender(message)
    email.to = [message.to_email]
    email.cc = list(message.cc or [])
    email.bcc = list(message.bcc or [])
    email.reply_to = [message.reply_to] if message.reply_to else []
    email.extra_headers = {"Message-ID": message.message_id}
    return email
