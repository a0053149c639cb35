"""Input and output of the mail endpoints (API.md section 3), with strict types.

DRF's fields coerce (``123`` becomes ``"123"``, ``"true"`` becomes ``True``); the contract says
a wrong type is a VALIDATION_ERROR for that field, so the fields here accept exactly the JSON
type they document. ``null`` is a wrong type too: an optional field is omitted, not nulled.

Addresses (``to``, ``cc``, ``bcc``, ``from_email``, ``reply_to``) are plain addresses
(``user@example.com``) checked with Django's ``validate_email``; display-name forms
(``"Name" <user@example.com>``) are refused, the sender's name goes in ``from_name``.
"""

import datetime
import json
import re
import threading
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.validators import validate_email
from django.utils import timezone
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers
from rest_framework.validators import ProhibitSurrogateCharactersValidator

from mail import attachments as attachment_rules
from mail import custom_headers
from templating.fields import TemplateNameField, VariablesField

MAX_RECIPIENTS = 50
MAX_SUBJECT_CHARS = 998
MAX_TAGS = 10
MAX_TAG_CHARS = 100
MAX_METADATA_BYTES = 4096
MAX_ADDRESS_CHARS = 254
MAX_NAME_CHARS = 255


def _reject_line_breaks(value: str) -> None:
    # A CR or LF in a header would let a caller add headers (or recipients) of their own.
    if "\r" in value or "\n" in value:
        raise serializers.ValidationError("Must not contain line breaks (CR or LF).")


_SURROGATE = re.compile("[\ud800-\udfff]")


class SurrogateCharactersValidator(ProhibitSurrogateCharactersValidator):
    """DRF's refusal of surrogate characters (same message and code), as one regular
    expression search: DRF's own runs a Python generator over every character, which for a
    message's html and text cost more than the rest of their validation."""

    def __call__(self, value: Any) -> None:
        found = _SURROGATE.search(str(value))
        if found is not None:
            message = self.message.format(code_point=ord(found.group()))
            raise serializers.ValidationError(message, code=self.code)


class StrictCharField(serializers.CharField):
    """A JSON string and nothing else; whitespace is kept as sent."""

    default_error_messages = {"invalid": "Must be a string."}

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("trim_whitespace", False)
        super().__init__(**kwargs)
        self.validators = [
            SurrogateCharactersValidator()
            if type(validator) is ProhibitSurrogateCharactersValidator
            else validator
            for validator in self.validators
        ]

    def to_internal_value(self, data: Any) -> str:
        if not isinstance(data, str):
            self.fail("invalid")
        return super().to_internal_value(data)


# The schema says what the fields check, so a generated request that fits it is accepted.
NO_LINE_BREAKS_PATTERN = "^[^\\r\\n]*$"


@extend_schema_field({"type": "string", "pattern": NO_LINE_BREAKS_PATTERN})
class HeaderTextField(StrictCharField):
    """A string that ends up in a header: no CR/LF."""

    def to_internal_value(self, data: Any) -> str:
        value = super().to_internal_value(data)
        _reject_line_breaks(value)
        return value


@extend_schema_field({"type": "string", "format": "email"})
class AddressField(StrictCharField):
    """One plain email address (``user@example.com``)."""

    default_error_messages = {"address": "Enter a valid email address."}

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("max_length", MAX_ADDRESS_CHARS)
        super().__init__(**kwargs)

    def to_internal_value(self, data: Any) -> str:
        value = super().to_internal_value(data)
        _reject_line_breaks(value)
        try:
            validate_email(value)
        except DjangoValidationError:
            self.fail("address")
        return value


class StrictBooleanField(serializers.BooleanField):
    """``true`` or ``false``; not ``"true"``, ``1`` or ``"on"``."""

    default_error_messages = {"invalid": "Must be a boolean (true or false)."}

    def to_internal_value(self, data: Any) -> bool:
        if not isinstance(data, bool):
            self.fail("invalid")
        return data


class AddressListField(serializers.ListField):
    """A JSON array of plain addresses."""

    default_error_messages = {"not_a_list": "Must be an array of email addresses."}

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("child", AddressField())
        kwargs.setdefault("max_length", MAX_RECIPIENTS - 1)
        super().__init__(**kwargs)


class TagListField(serializers.ListField):
    default_error_messages = {"not_a_list": "Must be an array of strings."}

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("child", StrictCharField(min_length=1, max_length=MAX_TAG_CHARS))
        kwargs.setdefault("max_length", MAX_TAGS)
        super().__init__(**kwargs)


@extend_schema_field(
    {
        "type": "object",
        "additionalProperties": {
            "nullable": True,
            "anyOf": [{"type": "string"}, {"type": "number"}, {"type": "boolean"}],
        },
        "description": "String keys; string, number, boolean or null values; at most 4 KiB "
        "as JSON.",
        "example": {"order_id": "12345"},
    }
)
class MetadataField(serializers.Field):
    """A flat JSON object: string keys; string, number, boolean or null values; <= 4 KiB."""

    default_error_messages = {
        "not_an_object": "Must be a JSON object.",
        "value": "Value of '{name}' must be a string, number, boolean or null.",
        "too_large": "Must be at most {max_bytes} bytes as JSON (got {size}).",
    }

    def to_internal_value(self, data: Any) -> dict[str, Any]:
        if not isinstance(data, dict):
            self.fail("not_an_object")
        for key, value in data.items():
            if not isinstance(key, str):  # JSON keys are strings; this guards direct calls
                self.fail("value", name=key)
            if value is not None and not isinstance(value, (str, int, float, bool)):
                self.fail("value", name=key)
        size = len(json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode())
        if size > MAX_METADATA_BYTES:
            self.fail("too_large", max_bytes=MAX_METADATA_BYTES, size=size)
        return data

    def to_representation(self, value: Any) -> Any:
        return value


def _field_errors(errors: dict[str | None, list[str]]) -> Any:
    """A list for errors of the field as a whole, else a dict that ``flat_errors`` flattens."""
    if None in errors:
        return errors[None]
    return errors


def flat_errors(detail: dict[str, Any]) -> dict[str, Any]:
    """API.md section 12: a field inside a list or object is named by a flat key."""
    flat: dict[str, Any] = {}
    for key, value in detail.items():
        # DRF's own list fields report items by int position ({"cc": {1: [...]}}); those stay
        # as they were.
        if isinstance(value, dict) and all(isinstance(inner, str) for inner in value):
            for inner, messages in flat_errors(value).items():
                if inner.startswith("["):
                    name = f"{key}{inner}"
                else:
                    name = f"{key}.{inner}"
                flat[name] = messages
        else:
            flat[key] = value
    return flat


@extend_schema_field(
    {
        "type": "array",
        "maxItems": attachment_rules.MAX_ATTACHMENTS,
        "description": "Files attached to the message (API.md section 12). Decoded content of "
        "all attachments together at most MAILPASS_MAX_ATTACHMENT_BYTES (default 10 MiB); "
        "extensions on the block list (exe, bat, js, ...) are refused. An attachment with a "
        "content_id is inline: reference it in html as cid:<content_id>.",
        "items": {
            "type": "object",
            "additionalProperties": False,
            "required": ["filename", "content"],
            "properties": {
                "filename": {
                    "type": "string",
                    "minLength": 1,
                    "maxLength": attachment_rules.MAX_FILENAME_CHARS,
                    "pattern": attachment_rules.FILENAME_PATTERN,
                    "description": "No / or \\, no control characters; non-ASCII is "
                    "allowed (RFC 2231 in the header).",
                    "example": "invoice.pdf",
                },
                "content": {
                    "type": "string",
                    "format": "byte",
                    "description": "The file as standard base64 (RFC 4648, padded; line "
                    "breaks allowed). Empty for an empty file.",
                    "example": "JVBERi0xLjQK",
                },
                "content_type": {
                    "type": "string",
                    "pattern": attachment_rules.CONTENT_TYPE_PATTERN,
                    "description": "type/subtype; default: guessed from the filename, else "
                    "application/octet-stream.",
                    "example": "application/pdf",
                },
                "content_id": {
                    "type": "string",
                    "minLength": 1,
                    "maxLength": attachment_rules.MAX_CONTENT_ID_CHARS,
                    "pattern": attachment_rules.CONTENT_ID_PATTERN,
                    "description": "Makes the part inline (Content-ID: <content_id>); no <, > "
                    "or white space.",
                    "example": "logo",
                },
            },
        },
    }
)
class AttachmentListField(serializers.Field):
    """``attachments``: validated and decoded by ``mail.attachments.attachments_parse``."""

    def to_internal_value(self, data: Any) -> list[attachment_rules.Attachment]:
        try:
            return attachment_rules.attachments_parse(data)
        except attachment_rules.AttachmentsInvalid as exc:
            raise serializers.ValidationError(_field_errors(exc.errors)) from exc

    def to_representation(self, value: Any) -> Any:
        return [a.metadata() for a in value]


@extend_schema_field(
    {
        "type": "object",
        "maxProperties": custom_headers.MAX_HEADERS,
        "additionalProperties": {
            "type": "string",
            "maxLength": custom_headers.MAX_VALUE_CHARS,
            "pattern": NO_LINE_BREAKS_PATTERN,
        },
        "description": "Custom headers, name -> value (API.md section 12). Not the headers "
        "MailPass writes (From, Sender, To, Cc, Bcc, Reply-To, Subject, Date, Message-ID, "
        "MIME-Version, Content-*, Return-Path, Received, DKIM-Signature) and no X-MailPass-*; "
        "names are case-insensitive and given once. Non-ASCII values are RFC 2047 encoded.",
        "example": {"List-Unsubscribe": "<mailto:unsubscribe@yourdomain.com>"},
    }
)
class CustomHeadersField(serializers.Field):
    """``headers``: validated by ``mail.custom_headers.headers_parse``."""

    def to_internal_value(self, data: Any) -> dict[str, str]:
        try:
            return custom_headers.headers_parse(data)
        except custom_headers.HeadersInvalid as exc:
            raise serializers.ValidationError(_field_errors(exc.errors)) from exc

    def to_representation(self, value: Any) -> Any:
        return value


class StrictSerializer(serializers.Serializer):
    """Refuses fields it does not declare, each named in ``details`` (a typo must not pass)."""

    default_error_messages = {
        "invalid": "The request body must be a JSON object.",
        "null": "The request body must be a JSON object.",
    }

    def to_internal_value(self, data: Any) -> dict[str, Any]:
        if not isinstance(data, dict):
            raise serializers.ValidationError(
                {"non_field_errors": [self.error_messages["invalid"]]}, code="invalid"
            )
        unknown = {name: ["Unknown field."] for name in sorted(set(data) - set(self.fields))}
        try:
            value = super().to_internal_value(data)
        except serializers.ValidationError as exc:
            raise serializers.ValidationError(flat_errors({**unknown, **exc.detail})) from exc
        if unknown:
            raise serializers.ValidationError(unknown)
        return value


@extend_schema_field(
    {
        "type": "string",
        "format": "date-time",
        "pattern": "(Z|z|[+-][0-9]{2}:?[0-9]{2})$",
        "description": "ISO 8601 with a time zone; at most MAILPASS_MAX_SCHEDULE_DAYS (default "
        "30) days ahead. In the future: the message is `scheduled`; now or past: sent at once.",
        "example": "2026-12-01T09:00:00Z",
    }
)
class SendAtField(serializers.Field):
    """``send_at`` (API.md s.14): an aware datetime, at most the configured days ahead."""

    default_error_messages = {
        "invalid": "Must be an ISO 8601 date and time with a time zone "
        "(2026-12-01T09:00:00Z or 2026-12-01T10:00:00+01:00).",
        "naive": "Must have a time zone (Z or +01:00).",
        "too_far": "Must be at most {days} days ahead.",
    }

    def to_internal_value(self, data: Any) -> datetime.datetime:
        if isinstance(data, datetime.datetime):
            value = data  # a batch's default, validated once already (never from JSON)
        elif not isinstance(data, str) or len(data) > 64:
            self.fail("invalid")
        else:
            try:
                value = datetime.datetime.fromisoformat(data)
            except ValueError:
                self.fail("invalid")
        if value.tzinfo is None or value.utcoffset() is None:
            self.fail("naive")
        days = settings.MAILPASS_MAX_SCHEDULE_DAYS
        try:
            too_far = value - timezone.now() > datetime.timedelta(days=days)
        except OverflowError:
            too_far = True
        if too_far:
            self.fail("too_far", days=days)
        return value.astimezone(datetime.UTC)

    def to_representation(self, value: Any) -> Any:
        return value


class MessageDefaultsSerializer(StrictSerializer):
    """The fields of a message that a batch may also set once, as defaults for its items."""

    from_email = AddressField(required=False)
    from_name = HeaderTextField(required=False, allow_blank=True, max_length=MAX_NAME_CHARS)
    reply_to = AddressField(required=False)
    tags = TagListField(required=False)
    metadata = MetadataField(required=False)
    track_opens = StrictBooleanField(required=False)
    track_clicks = StrictBooleanField(required=False)
    send_at = SendAtField(required=False)


# Fields the batch endpoint may set once at the top level for every item that omits them.
BATCH_DEFAULT_FIELDS = tuple(MessageDefaultsSerializer._declared_fields)


class MessageInputSerializer(MessageDefaultsSerializer):
    """One message: the body of POST /send and each item of POST /send-batch."""

    to = AddressField()
    # Required unless a template gives it (API.md s.13): checked in validate().
    subject = HeaderTextField(required=False, max_length=MAX_SUBJECT_CHARS)
    html = StrictCharField(required=False, allow_blank=True)
    text = StrictCharField(required=False, allow_blank=True)
    cc = AddressListField(required=False)
    bcc = AddressListField(required=False)
    attachments = AttachmentListField(required=False)
    headers = CustomHeadersField(required=False)
    template = TemplateNameField(
        required=False, help_text="A template's name, instead of subject, html and text."
    )
    variables = VariablesField(required=False)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        errors: dict[str, list[str]] = {}
        if "template" in attrs:
            given = [name for name in ("subject", "html", "text") if name in attrs]
            if given:
                message = f"Give a template or {'/'.join(given)}, not both."
                errors["template"] = [message]
                for name in given:
                    errors[name] = [message]
        else:
            if "variables" in attrs:
                errors["variables"] = ["Only with a template."]
            if "subject" not in attrs:
                errors["subject"] = ["This field is required."]
            if not attrs.get("html") and not attrs.get("text"):
                message = "Give html or text (at least one non-empty)."
                errors["html"] = [message]
                errors["text"] = [message]
        cc, bcc = attrs.get("cc", []), attrs.get("bcc", [])
        total = 1 + len(cc) + len(bcc)
        if total > MAX_RECIPIENTS:
            message = (
                f"to, cc and bcc together allow at most {MAX_RECIPIENTS} recipients (got {total})."
            )
            for name in ("cc", "bcc"):
                if attrs.get(name):
                    errors[name] = [message]
        if errors:
            raise serializers.ValidationError(errors)
        return attrs


_per_thread = threading.local()


def thread_serializer(serializer_class: type[serializers.Serializer]) -> serializers.Serializer:
    """An instance of ``serializer_class`` made once per thread.

    A new serializer builds its fields (a deep copy of each declared field) on first use, which
    cost more than validating or showing a message. ``run_validation`` and
    ``to_representation`` keep no state in the serializer or its fields, so one instance can
    serve every request of its thread.
    """
    instances = _per_thread.__dict__.setdefault("serializers", {})
    serializer = instances.get(serializer_class)
    if serializer is None:
        serializer = instances[serializer_class] = serializer_class()
    return serializer


def message_input_validate(data: Any) -> dict[str, Any]:
    """``MessageInputSerializer(data=data)``'s validated data, or its ``ValidationError``.

    The validation ``is_valid`` runs (``run_validation``: the same errors, worded the same),
    on the thread's serializer.
    """
    if data is None:
        # A JSON null body: ``is_valid`` words this one its own way ("No data provided").
        serializer = MessageInputSerializer(data=data)
        serializer.is_valid(raise_exception=True)
    return thread_serializer(MessageInputSerializer).run_validation(data)


def send_output(message: Any) -> dict[str, Any]:
    """``SendOutputSerializer(message).data``, on the thread's serializer."""
    return thread_serializer(SendOutputSerializer).to_representation(message)


class SendOutputSerializer(serializers.Serializer):
    """``data`` of a 200 answer to POST /send."""

    message_id = serializers.CharField()
    status = serializers.CharField()
    to = serializers.CharField(source="to_email")
    suppressed = serializers.ListField(
        child=serializers.CharField(),
        help_text="cc/bcc addresses dropped because they are on the suppression list; "
        "[] when none.",
    )
    # "from" is a Python keyword: the field is declared below under its JSON name.

    send_at = serializers.DateTimeField(
        required=False,
        format="%Y-%m-%dT%H:%M:%SZ",
        default_timezone=datetime.UTC,
        help_text="Only when the message is `scheduled` (API.md s.14).",
    )

    def get_fields(self) -> dict[str, serializers.Field]:
        fields = super().get_fields()
        fields["from"] = serializers.CharField(source="from_email")
        return fields

    def to_representation(self, instance: Any) -> dict[str, Any]:
        data = super().to_representation(instance)
        if data.get("send_at") is None or instance.status != "scheduled":
            data.pop("send_at", None)
        return data


# An enum of one boolean would become an enum component per response; the description says
# it, and the schema fuzzing tests check the value of every answer.
@extend_schema_field({"type": "boolean", "description": "Always true."})
class SuccessTrueField(serializers.BooleanField):
    """``success`` of an answer that worked (documentation of the schema)."""


@extend_schema_field({"type": "boolean", "description": "Always false."})
class SuccessFalseField(serializers.BooleanField):
    """``success`` of an error (documentation of the schema)."""


class SendResponseSerializer(serializers.Serializer):
    """The 200 envelope of POST /send (documentation of the schema)."""

    success = SuccessTrueField()
    data = SendOutputSerializer()


class CancelOutputSerializer(serializers.Serializer):
    """``data`` of a 200 answer to POST /cancel/{message_id} (API.md s.14)."""

    message_id = serializers.CharField()
    status = serializers.ChoiceField(choices=[("canceled", "canceled")])


class CancelResponseSerializer(serializers.Serializer):
    success = SuccessTrueField()
    data = CancelOutputSerializer()


# API.md section 2: every code an answer under /api/ may carry.
ERROR_CODES = (
    "VALIDATION_ERROR",
    "UNAUTHORIZED",
    "FORBIDDEN",
    "NOT_FOUND",
    "METHOD_NOT_ALLOWED",
    "IDEMPOTENCY_CONFLICT",
    "NOT_CANCELABLE",
    "PAYLOAD_TOO_LARGE",
    "UNSUPPORTED_MEDIA_TYPE",
    "NO_SMTP_PROVIDER",
    "RECIPIENT_SUPPRESSED",
    "SEND_LIMIT_EXCEEDED",
    "RATE_LIMITED",
    "SEND_FAILED",
    "SERVICE_UNAVAILABLE",
    "INTERNAL_ERROR",
)


class ErrorSerializer(serializers.Serializer):
    code = serializers.ChoiceField(choices=[(code, code) for code in ERROR_CODES])
    message = serializers.CharField()
    details = serializers.DictField(help_text="Always present; {} when there is nothing to add.")


class ErrorResponseSerializer(serializers.Serializer):
    """The error envelope of API.md section 2 (documentation of the schema)."""

    success = SuccessFalseField()
    error = ErrorSerializer()
