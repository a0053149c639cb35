"""Output of GET /api/v1/mail/status/{message_id} (API.md section 5)."""

import datetime
from typing import Any

from rest_framework import serializers

from mail.models import EventType, MessageStatus
from mail.serializers import SuccessTrueField, thread_serializer


class UtcDateTimeField(serializers.DateTimeField):
    """UTC, ISO 8601 with whole seconds and ``Z``: ``2026-01-30T12:00:00Z``."""

    def to_representation(self, value: datetime.datetime | None) -> str | None:
        if value is None:
            return None
        return value.astimezone(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class BlankAsNullCharField(serializers.CharField):
    """A stored ``""`` is shown as ``null``."""

    def __init__(self, **kwargs) -> None:
        super().__init__(allow_null=True, **kwargs)

    def to_representation(self, value: str | None) -> str | None:
        return value or None


class StatusAttachmentSerializer(serializers.Serializer):
    """What is kept of an attachment: never its content."""

    filename = serializers.CharField()
    content_type = serializers.CharField()
    size = serializers.IntegerField()
    content_id = serializers.CharField(allow_null=True)


class StatusMessageSerializer(serializers.Serializer):
    message_id = serializers.CharField()
    from_email = serializers.CharField()
    to_email = serializers.CharField()
    subject = serializers.CharField()
    status = serializers.ChoiceField(choices=MessageStatus.choices)
    error_message = BlankAsNullCharField()
    sent_at = UtcDateTimeField(allow_null=True)
    created_at = UtcDateTimeField()
    cc = serializers.ListField(child=serializers.CharField())
    tags = serializers.ListField(child=serializers.CharField())
    metadata = serializers.DictField()
    queue_id = serializers.IntegerField(allow_null=True)
    attempts = serializers.IntegerField()
    send_at = UtcDateTimeField(allow_null=True)
    attachments = StatusAttachmentSerializer(many=True)
    template = BlankAsNullCharField(source="template_name")
    suppressed = serializers.ListField(child=serializers.CharField())


class StatusEventSerializer(serializers.Serializer):
    """Lifecycle events have no IP, user agent or URL: null, not an empty string."""

    event_type = serializers.ChoiceField(choices=EventType.choices)
    recipient = BlankAsNullCharField()
    detail = BlankAsNullCharField()
    ip_address = serializers.IPAddressField(allow_null=True)
    user_agent = BlankAsNullCharField()
    url = BlankAsNullCharField()
    created_at = UtcDateTimeField()


class StatusOutputSerializer(serializers.Serializer):
    """``data`` of a 200 answer: the message and its events, oldest first."""

    message = StatusMessageSerializer()
    events = StatusEventSerializer(many=True)


def status_output(result: Any) -> dict[str, Any]:
    """``StatusOutputSerializer({"message": ..., "events": ...}).data`` of a
    ``mail.selectors.MessageWithEvents``, on the thread's serializer (its nested fields are
    built once, not per request)."""
    serializer = thread_serializer(StatusOutputSerializer)
    return serializer.to_representation({"message": result.message, "events": result.events})


class StatusResponseSerializer(serializers.Serializer):
    """The 200 envelope (documentation of the schema)."""

    success = SuccessTrueField()
    data = StatusOutputSerializer()
