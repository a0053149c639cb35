"""Input and output of POST /api/v1/mail/send-batch (API.md section 4).

The request is checked in two layers: this serializer checks the envelope strictly (``messages``
1..100, the top-level defaults, no unknown top-level field: else 400 for the whole request);
each item is then checked on its own with ``MessageInputSerializer`` (a bad item fails alone).
"""

import datetime
from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from mail.serializers import (
    BATCH_DEFAULT_FIELDS,
    ErrorSerializer,
    MessageDefaultsSerializer,
    SuccessTrueField,
)

MAX_BATCH_MESSAGES = 100


@extend_schema_field(
    {
        # Documented as a message of /send, but any JSON value is accepted here: a bad item
        # fails alone in the answer (200), it never makes the request a 400.
        "anyOf": [{"$ref": "#/components/schemas/MessageInputRequest"}, {}],
        "description": "A message with the fields of POST /send; an item that is not valid "
        "is answered `failed` with its own error, the others are queued.",
    }
)
class BatchItemInputField(serializers.JSONField):
    """One item of ``messages``, kept as raw JSON."""


class BatchInputSerializer(MessageDefaultsSerializer):
    # Items stay raw JSON here: each is validated on its own, after the defaults are applied.
    messages = serializers.ListField(
        child=BatchItemInputField(),
        min_length=1,
        max_length=MAX_BATCH_MESSAGES,
        error_messages={
            "min_length": "Give between 1 and 100 messages.",
            "max_length": "Give between 1 and 100 messages.",
            "empty": "Give between 1 and 100 messages.",
            "not_a_list": "Must be an array of message objects.",
        },
    )

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
    send_at = serializers.DateTimeField(
        required=False, help_text="Only when the item is `scheduled` (API.md s.14)."
    )
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
            if instance.send_at is not None:
                answer["send_at"] = instance.send_at.astimezone(datetime.UTC).strftime(
                    "%Y-%m-%dT%H:%M:%SZ"
                )
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
    success = SuccessTrueField()
    data = BatchOutputSerializer()
