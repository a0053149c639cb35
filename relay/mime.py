"""The MIME -> message mapping of the SMTP relay (API.md section 18).

A pure function of the received bytes and the SMTP envelope: it parses with the email package
(``policy.default``, with its structural and sender headers' parsing memoised), never by hand,
and returns the input of one batch item, which the batch item's serializers then validate like
any API request. What cannot even be mapped (a header
that is not a JSON object where one is required...) raises ``MimeRejected`` naming the field.
"""

import email
import functools
import json
import mimetypes
from dataclasses import dataclass, field
from email import policy
from email.message import EmailMessage
from email.policy import EmailPolicy, linesep_splitter
from typing import Any

from mail.custom_headers import RESERVED_NAMES

TAGS_HEADER = "X-MailPass-Tags"
METADATA_HEADER = "X-MailPass-Metadata"
TRACK_OPENS_HEADER = "X-MailPass-Track-Opens"
TRACK_CLICKS_HEADER = "X-MailPass-Track-Clicks"
_CONSUMED = {
    h.lower() for h in (TAGS_HEADER, METADATA_HEADER, TRACK_OPENS_HEADER, TRACK_CLICKS_HEADER)
}

# Headers MailPass writes itself (API.md section 12: ``mail.custom_headers`` owns the list) are
# mapped to fields or rewritten by MailPass, never passed on as custom headers.
_OWN_HEADERS = RESERVED_NAMES


# Structural headers are parsed again every time the parser or ``get_body`` asks a part for its
# type (about 14 times for a text + html message: two thirds of its parsing time), and the same
# few values (``text/plain; charset="utf-8"``, ``7bit``...) come in message after message, as
# does an application's own sender (``From``, ``Sender``, ``Reply-To``: about 0.1 ms each to
# parse). Their parsed form is a pure function of name and text, so it is kept (bounded, short
# values only). Recipients (``To``, ``Cc``) and the subject are never cached.
_MEMO_HEADERS = frozenset(
    {
        "content-type",
        "content-transfer-encoding",
        "content-disposition",
        "mime-version",
        "from",
        "sender",
        "reply-to",
    }
)
_MEMO_MAX_VALUE = 256


@functools.lru_cache(maxsize=1024)
def _kept_header(name: str, value: str) -> Any:
    return policy.default.header_factory(name, value)


class _RelayPolicy(EmailPolicy):
    """``policy.default``, with the parsed structural and sender headers kept (see above)."""

    def header_fetch_parse(self, name: str, value: Any) -> Any:
        if hasattr(value, "name") or name.lower() not in _MEMO_HEADERS:
            return super().header_fetch_parse(name, value)
        value = "".join(linesep_splitter.split(value))  # unfolded, as EmailPolicy does
        if len(value) > _MEMO_MAX_VALUE:
            return self.header_factory(name, value)
        return _kept_header(name, value)


RELAY_POLICY = _RelayPolicy()


class MimeRejected(Exception):
    """The message cannot be mapped; ``field`` is the input field it concerns."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


@dataclass
class MappedMessage:
    """The input of one batch item; ``attachments`` hold their content as bytes, for
    ``mail.attachments.attachments_accept``."""

    data: dict[str, Any]
    attachments: list[dict[str, Any]] = field(default_factory=list)
    headers: dict[str, str] = field(default_factory=dict)


def _addresses(message: EmailMessage, name: str) -> list[str]:
    found: list[str] = []
    for header in message.get_all(name, []):
        for address in getattr(header, "addresses", ()):
            found.append(address.addr_spec)
    return found


def _bool_header(value: str, *, field_name: str) -> bool:
    lowered = value.strip().lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    raise MimeRejected(field_name, "Must be true or false.")


def _dedupe(addresses: list[str], seen: set[str]) -> list[str]:
    kept = []
    for address in addresses:
        if address.lower() in seen:
            continue
        seen.add(address.lower())
        kept.append(address)
    return kept


def _leaves(part: EmailMessage) -> list[EmailMessage]:
    """Every part that is not a multipart container (a forwarded message is one leaf)."""
    if part.get_content_maintype() == "multipart":
        return [leaf for child in part.iter_parts() for leaf in _leaves(child)]
    return [part]


def _attachment(part: EmailMessage, number: int) -> dict[str, Any]:
    content_type = part.get_content_type()
    if part.get_content_maintype() == "message":
        inner = part.get_payload()
        content = inner[0].as_bytes() if isinstance(inner, list) else part.get_payload(decode=True)
    else:
        content = part.get_payload(decode=True) or b""
    filename = part.get_filename()
    if not filename:
        # A part without a name (an inline image from some clients): name it from its type.
        filename = f"part-{number}{mimetypes.guess_extension(content_type) or '.bin'}"
    attachment: dict[str, Any] = {
        "filename": filename,
        "content": content,
        "content_type": content_type,
    }
    content_id = part.get("Content-ID")
    if content_id:
        attachment["content_id"] = str(content_id).strip().strip("<>").strip()
    return attachment


def mime_to_message(*, raw: bytes, rcpt_tos: list[str], mail_from: str) -> MappedMessage:
    """Map a received message and its envelope to the input of one batch item.

    The first ``To`` address is ``to``; the other ``To`` and the ``Cc`` addresses are ``cc``;
    envelope recipients in neither are ``bcc``. ``From`` gives ``from_email``/``from_name``
    (the envelope sender when there is no ``From``), ``Reply-To`` gives ``reply_to``. The
    ``X-MailPass-*`` headers set tags, metadata and tracking and are removed; other headers
    become custom ``headers`` unless MailPass writes them itself.
    """
    message = email.message_from_bytes(raw, policy=RELAY_POLICY)
    data: dict[str, Any] = {}

    to_addresses = _addresses(message, "To")
    if not to_addresses:
        raise MimeRejected("to", "The message has no To header address.")
    seen: set[str] = set()
    data["to"] = to_addresses[0]
    seen.add(to_addresses[0].lower())
    cc = _dedupe(to_addresses[1:] + _addresses(message, "Cc"), seen)
    bcc = _dedupe(list(rcpt_tos), seen)
    if cc:
        data["cc"] = cc
    if bcc:
        data["bcc"] = bcc

    from_header = message.get_all("From", [])
    from_addresses = [a for h in from_header for a in getattr(h, "addresses", ())]
    if from_addresses:
        data["from_email"] = from_addresses[0].addr_spec
        if from_addresses[0].display_name:
            data["from_name"] = from_addresses[0].display_name
    elif mail_from and mail_from != "<>":
        data["from_email"] = mail_from
    reply_to = _addresses(message, "Reply-To")
    if reply_to:
        data["reply_to"] = reply_to[0]

    subject = message.get("Subject")
    if subject is not None:
        data["subject"] = str(subject)

    text_part = message.get_body(preferencelist=("plain",))
    html_part = message.get_body(preferencelist=("html",))
    # SMTP carries lines ending in CRLF; the stored bodies use "\n" like API requests do.
    if text_part is not None:
        data["text"] = text_part.get_content().replace("\r\n", "\n")
    if html_part is not None:
        data["html"] = html_part.get_content().replace("\r\n", "\n")

    attachments = []
    for leaf in _leaves(message):
        if leaf is text_part or leaf is html_part:
            continue
        attachments.append(_attachment(leaf, len(attachments) + 1))

    headers: dict[str, str] = {}
    seen_names: set[str] = set()
    # keys() does not parse values: only the headers kept are parsed (and decoded) below.
    for name in message.keys():
        lowered = name.lower()
        if lowered in _CONSUMED or lowered in _OWN_HEADERS or lowered.startswith("content-"):
            continue
        if lowered in seen_names:
            raise MimeRejected(f"headers.{name}", "Appears more than once.")
        seen_names.add(lowered)
        headers[name] = str(message[name])

    tags = message.get(TAGS_HEADER)
    if tags is not None:
        data["tags"] = [tag.strip() for tag in str(tags).split(",") if tag.strip()]
    metadata = message.get(METADATA_HEADER)
    if metadata is not None:
        try:
            data["metadata"] = json.loads(str(metadata))
        except ValueError as exc:
            raise MimeRejected("metadata", "Must be a JSON object.") from exc
    for header, field_name in (
        (TRACK_OPENS_HEADER, "track_opens"),
        (TRACK_CLICKS_HEADER, "track_clicks"),
    ):
        value = message.get(header)
        if value is not None:
            data[field_name] = _bool_header(str(value), field_name=field_name)
    return MappedMessage(data=data, attachments=attachments, headers=headers)
