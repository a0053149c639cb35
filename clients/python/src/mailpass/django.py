"""A Django email backend that sends through the MailPass API.

    # settings.py
    EMAIL_BACKEND = "mailpass.django.EmailBackend"
    MAILPASS_API_KEY = "mp_live_..."
    MAILPASS_BASE_URL = "https://mail.example.com"   # else the MAILPASS_BASE_URL env variable

Then ``send_mail``, ``EmailMessage`` and ``EmailMultiAlternatives`` go through POST /send:
cc, bcc, reply-to, attachments, inline images (a MIME part with a ``Content-ID``), an html
alternative and custom headers are kept. The API takes one ``to`` address: the first ``to`` is
``to`` and the others are sent as ``cc`` (as MailPass's SMTP relay does). Display names in
recipient addresses are dropped (the API takes plain addresses); the sender's name is kept as
``from_name``. Optional attributes on a message set MailPass fields: ``tags``, ``metadata``,
``track_opens``, ``track_clicks``, ``send_at``. After a send, ``message.mailpass_result`` is the
API's answer (its ``message_id`` names the message in MailPass).

API errors raise ``mailpass.MailPassError`` subclasses unless ``fail_silently``; a message this
backend cannot express (an alternative that is not html, two reply-to addresses) raises
``ValueError`` whatever ``fail_silently`` says, as a bug in the caller should.
"""

from __future__ import annotations

import mimetypes
from collections.abc import Sequence
from email.mime.base import MIMEBase
from email.utils import parseaddr
from typing import Any

from django.conf import settings
from django.core.mail import EmailMessage
from django.core.mail.backends.base import BaseEmailBackend

from mailpass.client import MailPass
from mailpass.errors import MailPassError

MESSAGE_OPTIONS = ("tags", "metadata", "track_opens", "track_clicks", "send_at")


def _address(value: str) -> str:
    name, address = parseaddr(value)
    if not address:
        raise ValueError(f"Not an email address: {value!r}")
    return address


def _sender(value: str) -> tuple[str, str | None]:
    name, address = parseaddr(value)
    if not address:
        raise ValueError(f"Not an email address: {value!r}")
    return address, name or None


def _mime_attachment(part: MIMEBase) -> dict[str, Any]:
    content = part.get_payload(decode=True) or b""
    content_type = part.get_content_type()
    content_id = part.get("Content-ID")
    filename = part.get_filename()
    attachment: dict[str, Any] = {"content": content, "content_type": content_type}
    if content_id:
        content_id = content_id.strip().strip("<>")
        attachment["content_id"] = content_id
    if not filename:
        extension = mimetypes.guess_extension(content_type) or ".bin"
        filename = (content_id or "attachment").split("@")[0] + extension
    attachment["filename"] = filename
    return attachment


def _file_attachment(filename: str | None, content: Any, mimetype: str | None) -> dict[str, Any]:
    if isinstance(content, str):
        content = content.encode()
    if not filename:
        raise ValueError("An attachment without a file name cannot be sent through MailPass.")
    attachment: dict[str, Any] = {"filename": filename, "content": content}
    if mimetype:
        attachment["content_type"] = mimetype
    return attachment


def message_params(message: EmailMessage) -> dict[str, Any]:
    """The keyword arguments of ``mail.send`` for a Django ``EmailMessage``."""
    recipients = [_address(a) for a in message.to]
    cc = [_address(a) for a in message.cc]
    bcc = [_address(a) for a in message.bcc]
    if not recipients:
        if not cc and not bcc:
            raise ValueError("The message has no recipients.")
        # Only cc/bcc: the first of them is the API's to.
        if cc:
            recipients = [cc.pop(0)]
        else:
            recipients = [bcc.pop(0)]
    headers = dict(message.extra_headers)
    from_email, from_name = _sender(headers.pop("From", None) or message.from_email)
    reply_to = list(message.reply_to)
    header_reply_to = headers.pop("Reply-To", None)
    if header_reply_to:
        reply_to = [a.strip() for a in header_reply_to.split(",") if a.strip()]
    if len(reply_to) > 1:
        raise ValueError("MailPass takes one reply-to address.")
    params: dict[str, Any] = {
        "to": recipients[0],
        "cc": recipients[1:] + cc or None,
        "bcc": bcc or None,
        "subject": message.subject,
        "from_email": from_email,
        "from_name": from_name,
        "reply_to": _address(reply_to[0]) if reply_to else None,
        "headers": headers or None,
    }
    body = message.body or ""
    if message.content_subtype == "html":
        params["html"] = body
    else:
        params["text"] = body
    for content, mimetype in getattr(message, "alternatives", []) or []:
        field = {"text/html": "html", "text/plain": "text"}.get(mimetype)
        if field is None or field in params:
            raise ValueError(f"MailPass sends one text and one html body, not {mimetype} too.")
        params[field] = content
    attachments = []
    for item in message.attachments:
        if isinstance(item, MIMEBase):
            attachments.append(_mime_attachment(item))
        else:
            attachments.append(_file_attachment(*item))
    if attachments:
        params["attachments"] = attachments
    for option in MESSAGE_OPTIONS:
        value = getattr(message, option, None)
        if value is not None:
            params[option] = value
    return params


class EmailBackend(BaseEmailBackend):
    """``EMAIL_BACKEND = "mailpass.django.EmailBackend"``: each message is one POST /send."""

    def __init__(
        self,
        fail_silently: bool = False,
        *,
        api_key: str | None = None,
        base_url: str | None = None,
        timeout: float | None = None,
        max_retries: int | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(fail_silently=fail_silently, **kwargs)
        self.api_key = api_key or getattr(settings, "MAILPASS_API_KEY", None)
        self.base_url = base_url or getattr(settings, "MAILPASS_BASE_URL", None)
        self.timeout = float(
            timeout if timeout is not None else getattr(settings, "MAILPASS_TIMEOUT", 30.0)
        )
        self.max_retries = int(
            max_retries if max_retries is not None else getattr(settings, "MAILPASS_MAX_RETRIES", 2)
        )
        self.client: MailPass | None = None

    def open(self) -> bool:
        if self.client is not None:
            return False
        if not self.api_key:
            raise ValueError("Set MAILPASS_API_KEY in the Django settings (mp_live_...).")
        self.client = MailPass(
            self.api_key,
            base_url=self.base_url,
            timeout=self.timeout,
            max_retries=self.max_retries,
        )
        return True

    def close(self) -> None:
        if self.client is not None:
            self.client.close()
            self.client = None

    def send_messages(self, email_messages: Sequence[EmailMessage]) -> int:
        if not email_messages:
            return 0
        opened = self.open()
        assert self.client is not None
        sent = 0
        try:
            for message in email_messages:
                params = message_params(message)
                try:
                    message.mailpass_result = self.client.mail.send(**params)  # type: ignore[attr-defined]
                except MailPassError:
                    if not self.fail_silently:
                        raise
                else:
                    sent += 1
        finally:
            if opened:
                self.close()
        return sent
