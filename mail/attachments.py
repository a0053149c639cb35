"""Attachments (API.md section 12): the rules of an attachment list, and where content waits.

Rules live here once, as plain functions: the API's serializers call ``attachments_parse``
and the SMTP relay calls ``attachments_accept`` with the parts it took out of a MIME message,
so both refuse exactly the same things.

Content of queued mail is kept in ``AttachmentContent`` rows until the message is done, then
purged (see docs/attachments.md for why it lives in PostgreSQL): one row per distinct file of
an account (SHA-256), so the same 10 MiB file in 100 queued messages is stored once. The
message row keeps only metadata (``Message.attachments``: filename, content_type, size,
content_id, sha256). A single send (POST /send) never stores content: it builds the email
from the request and the content is gone when the request ends.
"""

import base64
import hashlib
import mimetypes
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cached_property
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from mail.delivery import DeliveryError
from mail.models import AttachmentContent, Message, MessageStatus
from mailpass.errors import ValidationFailed

MAX_ATTACHMENTS = 20
MAX_FILENAME_CHARS = 255
MAX_CONTENT_ID_CHARS = 128
DEFAULT_CONTENT_TYPE = "application/octet-stream"
FIELDS = ("filename", "content", "content_type", "content_id")

# The same patterns are published in the OpenAPI schema (mail/serializers.py).
# A filename: no control characters, no / or \, no white space at either end (readers strip
# it, so it would not arrive as given).
FILENAME_PATTERN = r"^[^\s/\\\x00-\x1f\x7f](?:[^/\\\x00-\x1f\x7f]*[^\s/\\\x00-\x1f\x7f])?$"
# type/subtype, RFC 6838 restricted names, no parameters.
CONTENT_TYPE_PATTERN = (
    r"^[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}/[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}$"
)
# Printable ASCII without < > and white space: it goes into Content-ID: <...>.
CONTENT_ID_PATTERN = r"^[\x21-\x3b\x3d\x3f-\x7e]+$"

_FILENAME = re.compile(FILENAME_PATTERN)
_CONTENT_TYPE = re.compile(CONTENT_TYPE_PATTERN)
_CONTENT_ID = re.compile(CONTENT_ID_PATTERN)
_LINE_BREAKS = str.maketrans("", "", "\r\n")
# Only the types Python ships with: the guess must not depend on the host's /etc/mime.types.
_MIME_TYPES = mimetypes.MimeTypes(filenames=())
_COMPRESSED_TYPES = {
    "gzip": "application/gzip",
    "bzip2": "application/x-bzip2",
    "xz": "application/x-xz",
    "compress": "application/x-compress",
    "br": "application/x-brotli",
}

# Messages in these statuses will not be built again: their attachment content can go.
# ``sent`` is not final (feedback may follow) but nothing sends it again.
LIVE_STATUSES = (MessageStatus.SCHEDULED, MessageStatus.QUEUED, MessageStatus.SENDING)
# Content stored this recently is kept even if no message refers to it yet: a batch stores
# its files just before it commits its messages.
PURGE_GRACE = timedelta(minutes=5)


@dataclass(frozen=True)
class Attachment:
    """One valid attachment: the decoded bytes and what the email says about them."""

    filename: str
    content: bytes
    content_type: str
    content_id: str | None = None

    @cached_property
    def sha256(self) -> str:
        return hashlib.sha256(self.content).hexdigest()

    @property
    def inline(self) -> bool:
        return self.content_id is not None

    def metadata(self) -> dict[str, Any]:
        """What ``Message.attachments`` keeps (the status endpoint shows all but sha256)."""
        return {
            "filename": self.filename,
            "content_type": self.content_type,
            "size": len(self.content),
            "content_id": self.content_id,
            "sha256": self.sha256,
        }


class AttachmentsInvalid(Exception):
    """``errors`` maps a path relative to the list (``[1].filename``; ``None`` for the list as
    a whole) to messages."""

    def __init__(self, errors: dict[str | None, list[str]]) -> None:
        super().__init__(errors)
        self.errors = errors


def blocked_extension(filename: str) -> str | None:
    """The blocked extension ``filename`` ends with, if any (``x.pdf.exe`` -> ``exe``).

    Windows drops trailing dots and spaces (``x.exe.`` is saved as ``x.exe``), so they are
    ignored here too.
    """
    stem = filename.rstrip(". ")
    if "." not in stem:
        return None
    extension = stem.rsplit(".", 1)[1].lower()
    blocked = {ext.lower().lstrip(".") for ext in settings.MAILPASS_BLOCKED_ATTACHMENT_EXTENSIONS}
    return extension if extension in blocked else None


def content_type_guess(filename: str) -> str:
    guessed, encoding = _MIME_TYPES.guess_type(filename, strict=False)
    if encoding is not None:
        return _COMPRESSED_TYPES.get(encoding, DEFAULT_CONTENT_TYPE)
    if guessed is None or guessed.split("/")[0] in ("message", "multipart"):
        # A message/rfc822 or multipart part would be read as MIME structure, not as a file.
        return DEFAULT_CONTENT_TYPE
    return guessed


def base64_decode_strict(value: str) -> bytes:
    """RFC 4648 standard base64, padded, canonical; CR and LF anywhere are ignored.

    Raises ``ValueError`` for anything else (other white space, URL-safe letters, missing
    padding, non-zero trailing bits).
    """
    compact = value.translate(_LINE_BREAKS)
    if not compact.isascii():
        raise ValueError("not base64")
    data = base64.b64decode(compact, validate=True)  # binascii.Error is a ValueError
    if base64.b64encode(data).decode() != compact:
        raise ValueError("not canonical base64")
    return data


def _string(item: dict, name: str, errors: list[str]) -> str | None:
    value = item.get(name)
    if not isinstance(value, str):
        errors.append("Must be a string.")
        return None
    return value


def _one(item: Any, decoded: bool) -> tuple[Attachment | None, dict[str, list[str]]]:
    if not isinstance(item, dict):
        return None, {"": ["Must be an object with filename and content."]}
    errors: dict[str, list[str]] = {}
    for name in sorted(set(item) - set(FIELDS), key=str):
        errors[str(name)] = ["Unknown field."]

    filename_errors: list[str] = []
    filename = item.get("filename")
    if "filename" not in item:
        filename_errors.append("This field is required.")
    elif (filename := _string(item, "filename", filename_errors)) is not None:
        if not 1 <= len(filename) <= MAX_FILENAME_CHARS:
            filename_errors.append(f"Must be 1 to {MAX_FILENAME_CHARS} characters.")
        elif "\r" in filename or "\n" in filename:
            filename_errors.append("Must not contain line breaks (CR or LF).")
        elif "/" in filename or "\\" in filename:
            filename_errors.append("Must not contain / or \\.")
        elif not _FILENAME.fullmatch(filename):
            filename_errors.append(
                "Must not contain control characters or start or end with white space."
            )
        elif extension := blocked_extension(filename):
            filename_errors.append(f"Files ending in .{extension} are not accepted.")
    if filename_errors:
        errors["filename"] = filename_errors

    content_errors: list[str] = []
    content = item.get("content")
    data: bytes | None = None
    if "content" not in item:
        content_errors.append("This field is required.")
    elif decoded:
        if isinstance(content, (bytes, bytearray, memoryview)):
            data = bytes(content)
        else:
            content_errors.append("Must be bytes.")
    elif (content := _string(item, "content", content_errors)) is not None:
        try:
            data = base64_decode_strict(content)
        except ValueError:
            content_errors.append(
                "Must be standard base64 (RFC 4648, padded; line breaks are allowed)."
            )
    if content_errors:
        errors["content"] = content_errors

    content_type: str | None = None
    if "content_type" in item:
        type_errors: list[str] = []
        value = _string(item, "content_type", type_errors)
        if value is not None:
            if not _CONTENT_TYPE.fullmatch(value):
                type_errors.append("Must be a media type like application/pdf (type/subtype).")
            elif value.split("/")[0].lower() in ("multipart", "message"):
                type_errors.append(
                    "multipart/* and message/* are MIME structure, not files; "
                    "use application/octet-stream."
                )
            else:
                content_type = value.lower()
        if type_errors:
            errors["content_type"] = type_errors

    content_id: str | None = None
    if "content_id" in item:
        cid_errors: list[str] = []
        value = _string(item, "content_id", cid_errors)
        if value is not None:
            if not 1 <= len(value) <= MAX_CONTENT_ID_CHARS:
                cid_errors.append(f"Must be 1 to {MAX_CONTENT_ID_CHARS} characters.")
            elif not _CONTENT_ID.fullmatch(value):
                cid_errors.append(
                    "Must not contain <, > or white space (printable ASCII only); "
                    "reference it in html as cid:<content_id>."
                )
            else:
                content_id = value
        if cid_errors:
            errors["content_id"] = cid_errors

    if errors:
        return None, errors
    assert isinstance(filename, str) and data is not None
    return (
        Attachment(
            filename=filename,
            content=data,
            content_type=content_type or content_type_guess(filename),
            content_id=content_id,
        ),
        {},
    )


def attachments_parse(value: Any, *, decoded: bool = False) -> list[Attachment]:
    """Validate an ``attachments`` list (API.md section 12) and decode its content.

    ``decoded``: ``content`` holds the file's bytes instead of base64 (the relay's parts).
    Raises ``AttachmentsInvalid`` with every problem, keyed ``[i].field`` (``None`` for the
    list as a whole).
    """
    if not isinstance(value, list):
        raise AttachmentsInvalid({None: ["Must be an array of attachment objects."]})
    if len(value) > MAX_ATTACHMENTS:
        raise AttachmentsInvalid(
            {None: [f"At most {MAX_ATTACHMENTS} attachments (got {len(value)})."]}
        )
    errors: dict[str | None, list[str]] = {}
    attachments: list[Attachment] = []
    content_ids: set[str] = set()
    for index, item in enumerate(value):
        attachment, item_errors = _one(item, decoded)
        for field, messages in item_errors.items():
            errors[f"[{index}].{field}" if field else f"[{index}]"] = messages
        if attachment is None:
            continue
        if attachment.content_id is not None:
            if attachment.content_id in content_ids:
                errors[f"[{index}].content_id"] = ["Used by another attachment of this message."]
                continue
            content_ids.add(attachment.content_id)
        attachments.append(attachment)
    if errors:
        raise AttachmentsInvalid(errors)
    total = sum(len(a.content) for a in attachments)
    limit = settings.MAILPASS_MAX_ATTACHMENT_BYTES
    if total > limit:
        raise AttachmentsInvalid(
            {None: [f"Attachments total {total} bytes decoded; at most {limit} are allowed."]}
        )
    return attachments


def attachments_accept(
    *, account_id: int, items: list[dict[str, Any]], decoded: bool = True
) -> list[Attachment]:
    """Validate a list of attachment dicts with the API's rules and store their content.

    For callers outside the JSON API (the SMTP relay): ``items`` are
    ``{filename, content, content_type?, content_id?}`` with ``content`` as bytes (or
    base64 text with ``decoded=False``). Raises ``ValidationFailed`` naming
    ``attachments[i].field``. Put the result in the message data as ``attachments``
    (``message_prepare`` stores content again idempotently, so either order works).
    """
    try:
        attachments = attachments_parse(items, decoded=decoded)
    except AttachmentsInvalid as exc:
        details = {
            "attachments" if key is None else f"attachments{key}": v
            for key, v in exc.errors.items()
        }
        first = next(iter(details.items()))
        raise ValidationFailed(f"{first[0]}: {first[1][0]}", details=details) from exc
    attachment_contents_store(account_id=account_id, attachments=attachments)
    return attachments


# --- where content waits ---------------------------------------------------------------------


def attachment_contents_store(*, account_id: int, attachments: list[Attachment]) -> None:
    """Keep the content of a queued message's attachments (each distinct file once).

    Content already stored is only touched (``stored_at``), which also keeps a purge that
    runs at the same moment from deleting it (the purge deletes only rows not touched
    within ``PURGE_GRACE``, and re-checks that in its DELETE).
    """
    files = {a.sha256: a.content for a in attachments}
    if not files:
        return
    now = timezone.now()
    with transaction.atomic():
        AttachmentContent.objects.filter(account_id=account_id, sha256__in=list(files)).update(
            stored_at=now
        )
        present = set(
            AttachmentContent.objects.filter(
                account_id=account_id, sha256__in=list(files)
            ).values_list("sha256", flat=True)
        )
        missing = [
            AttachmentContent(
                account_id=account_id, sha256=sha, size=len(data), content=data, stored_at=now
            )
            for sha, data in files.items()
            if sha not in present
        ]
        if missing:
            AttachmentContent.objects.bulk_create(
                missing,
                update_conflicts=True,
                unique_fields=["account", "sha256"],
                update_fields=["stored_at"],
            )


class AttachmentContentMissing(DeliveryError):
    """A queued message's attachment content is gone (purged after it was final).

    A permanent delivery error: the drain fails the message with this text instead of an
    anonymous internal error.
    """

    def __init__(self, message: str) -> None:
        super().__init__(message, permanent=True)


def attachment_contents_load(*, message: Message) -> dict[str, bytes]:
    """The stored content of a message's attachments, by sha256, from its own account."""
    loaded = attachment_contents_load_many(account_id=message.account_id, messages=[message])
    return attachment_contents_pick(message=message, loaded=loaded)


def attachment_contents_load_many(*, account_id: int, messages: list[Message]) -> dict[str, bytes]:
    """The stored content of the attachments of several messages of one account, in one query.

    A file no longer stored is absent: ``attachment_contents_pick`` fails its message.
    """
    wanted = {a["sha256"] for m in messages for a in m.attachments or [] if a.get("sha256")}
    if not wanted:
        return {}
    found = AttachmentContent.objects.filter(
        account_id=account_id, sha256__in=list(wanted)
    ).values_list("sha256", "content")
    return {sha: bytes(data) for sha, data in found}


def attachment_contents_pick(*, message: Message, loaded: dict[str, bytes]) -> dict[str, bytes]:
    """One message's attachment contents out of ``loaded``; raises if one is no longer stored."""
    wanted = {a["sha256"] for a in message.attachments or [] if a.get("sha256")}
    if not wanted <= loaded.keys():
        raise AttachmentContentMissing(
            "attachment content is no longer stored (it is deleted once a message is final)"
        )
    return {sha: loaded[sha] for sha in wanted}


def attachment_contents_purge(*, now: datetime | None = None) -> int:
    """Delete stored content that no message waiting to be sent refers to; return how many.

    Runs in the periodic drain's housekeeping. A file stays while any ``scheduled``,
    ``queued`` or ``sending`` message of its account refers to it; once every such message
    is sent or final (delivered, bounced, failed, suppressed, canceled) it goes.
    """
    cutoff = (now or timezone.now()) - PURGE_GRACE
    candidates = list(
        AttachmentContent.objects.filter(stored_at__lt=cutoff).values_list(
            "pk", "account_id", "sha256"
        )[:10000]
    )
    if not candidates:
        return 0
    accounts = {account for _, account, _ in candidates}
    referenced: set[tuple[int, str]] = set()
    for account_id, attachments in (
        Message.objects.filter(account_id__in=accounts, status__in=LIVE_STATUSES)
        .exclude(attachments=[])
        .values_list("account_id", "attachments")
        .iterator()
    ):
        referenced.update((account_id, a.get("sha256")) for a in attachments)
    doomed = [pk for pk, account, sha in candidates if (account, sha) not in referenced]
    if not doomed:
        return 0
    # stored_at is checked again: content stored again since the candidates were read (a new
    # batch with the same file) stays.
    deleted, _ = AttachmentContent.objects.filter(pk__in=doomed, stored_at__lt=cutoff).delete()
    return deleted
