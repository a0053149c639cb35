"""Input and output of /api/v1/suppressions (API.md section 15), with strict types."""

from typing import Any

from rest_framework import serializers

from mail.serializers import AddressField, StrictCharField, StrictSerializer, SuccessTrueField
from mail.status_serializers import BlankAsNullCharField, UtcDateTimeField
from suppressions.models import API_REASONS, SuppressionReason

MAX_DETAIL_CHARS = 1000


class StrictChoiceField(serializers.ChoiceField):
    """One of the choices, given as a JSON string (``1`` or ``true`` is a wrong type)."""

    def to_internal_value(self, data: Any) -> str:
        if not isinstance(data, str):
            self.fail("invalid_choice", input=data)
        return super().to_internal_value(data)


class SuppressionInputSerializer(StrictSerializer):
    """The body of POST /suppressions: only the reasons a caller may give by hand."""

    email = AddressField()
    reason = StrictChoiceField(choices=[(r.value, r.value) for r in API_REASONS])
    detail = StrictCharField(required=False, allow_blank=True, max_length=MAX_DETAIL_CHARS)


class SuppressionListQuerySerializer(StrictSerializer):
    """The query of GET /suppressions. An unknown parameter is refused like an unknown field:
    a typo (``?reson=complaint``) must not silently list everything."""

    email = serializers.CharField(
        required=False,
        max_length=254,
        help_text="Keep the entries whose address contains this text (case-insensitive).",
    )
    reason = serializers.ChoiceField(
        required=False, choices=SuppressionReason.choices, help_text="Keep one reason."
    )
    cursor = serializers.CharField(
        required=False,
        max_length=200,
        help_text="`data.next_cursor` of the page before; absent for the first page.",
    )


class SuppressionOutputSerializer(serializers.Serializer):
    """One entry, as every endpoint of the list shows it."""

    email = serializers.CharField()
    reason = serializers.ChoiceField(choices=SuppressionReason.choices)
    message_id = serializers.CharField(
        source="message.message_id",
        allow_null=True,
        default=None,
        help_text="The message whose bounce or complaint added it; null for manual entries.",
    )
    detail = BlankAsNullCharField()
    created_at = UtcDateTimeField()


class SuppressionListOutputSerializer(serializers.Serializer):
    suppressions = SuppressionOutputSerializer(many=True)
    next_cursor = serializers.CharField(
        allow_null=True, help_text="Give it as `?cursor=` for the next page; null on the last."
    )


class SuppressionResponseSerializer(serializers.Serializer):
    """The 200/201 envelope of one entry (documentation of the schema)."""

    success = SuccessTrueField()
    data = SuppressionOutputSerializer()


class SuppressionListResponseSerializer(serializers.Serializer):
    """The 200 envelope of a page (documentation of the schema)."""

    success = SuccessTrueField()
    data = SuppressionListOutputSerializer()
