"""Input and output of POST /api/v1/mail/send-batch (API.md section 4).

The request is checked in two layers: this serializer checks the envelope strictly (``messages``
1..100, the top-level defaults, no unknown top-level field: else 400 for the whole request);
each item is then checked on its own with ``MessageInputSerializer`` (a bad item fails alone).
"""

from typing import Any

from rest_framework import serializers

from mail.serializers import (
    BATCH_DEFAULT_FIELDS,
    MAX_NAME_CHARS,
    AddressField,
    ErrorSerializer,
    HeaderTextField,
    MetadataField,
    StrictBooleanField,
    StrictSerializer,
    TagListField,
)

MAX_BATCH_MESSAGES = 100


class BatchInputSerializer(StrictSerializer):
    # Items stay raw JSON here: each is validated on its own, after the defaults are applied.
    messages = serializers.ListField(
        child=serializers.JSONField(),
        min_length=1,
        max_length=MAX_BATCH_MESSAGES,
        error_messages={
            "min_length": "Give between 1 and 100 messages.",
            "max_length": "Give between 1 and 100 messages.",
            "empty": "Give between 1 and 100 messages.",
            "not_a_list": "Must be an array of message objects.",
        },
    )
    from_email = AddressField(required=False)
    from_name = HeaderTextField(required=False, allow_blank=True, max_length=MAX_NAME_CHARS)
    reply_to = AddressField(required=False)
    tags = TagListField(required=False)
    metadata = MetadataField(required=False)
    track_opens = StrictBooleanField(required=False)
    track_clicks = StrictBooleanField(required=False)

    def item_inputs(self) -> list[Any]:
        """Each item with the top-level defaults for the fields it does not set itself."""
        data = self.validated_data
        defaults = {name: data[name] for name in BATCH_DEFAULT_FIELDS if name in data}
        return [
            {**{k: v for k, v in defaults.items() if k not in item}, **item}
            if isinstance(item, dict)
            else item
            for item in data["messages"]
        ]


class BatchItemOutputSerializer(serializers.Serializer):
    index = serializers.IntegerField()
    to = serializers.CharField(allow_null=True)
    status = serializers.CharField()
    queue_id = serializers.IntegerField(required=False)
    message_id = serializers.CharField(required=False)
    error = ErrorSerializer(required=False)

    def to_representation(self, instance: Any) -> dict[str, Any]:
        answer: dict[str, Any] = {
            "index": instance.index,
            "to": instance.to,
            "status": instance.status,
        }
        if instance.error is None:
            answer["queue_id"] = instance.queue_id
            answer["message_id"] = instance.message_id
        else:
            answer["error"] = instance.error
        return answer


class BatchOutputSerializer(serializers.Serializer):
    """``data`` of a 200 answer to POST /send-batch."""

    total = serializers.IntegerField()
    queued = serializers.IntegerField()
    failed = serializers.IntegerField()
    messages = BatchItemOutputSerializer(many=True)


class BatchResponseSerializer(serializers.Serializer):
    success = serializers.BooleanField(default=True)
    data = BatchOutputSerializer()
