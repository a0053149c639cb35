"""Input and output of /api/v1/templates (API.md section 13), strict like the mail endpoints."""

import json
import re
from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from mail.serializers import HeaderTextField, StrictCharField, StrictSerializer, SuccessTrueField
from mail.status_serializers import UtcDateTimeField
from templating.models import NAME_PATTERN

MAX_VARIABLES_BYTES = 64 * 1024
MAX_SOURCE_CHARS = 1024 * 1024


@extend_schema_field(
    {
        "type": "object",
        "additionalProperties": True,
        "description": "The template's variables: a JSON object, at most 64 KiB as JSON.",
        "example": {"name": "Ada", "order": {"id": "12345"}},
    }
)
class VariablesField(serializers.Field):
    default_error_messages = {
        "not_an_object": "Must be a JSON object.",
        "too_large": "Must be at most {max_bytes} bytes as JSON (got {size}).",
    }

    def to_internal_value(self, data: Any) -> dict[str, Any]:
        if not isinstance(data, dict):
            self.fail("not_an_object")
        size = len(json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode())
        if size > MAX_VARIABLES_BYTES:
            self.fail("too_large", max_bytes=MAX_VARIABLES_BYTES, size=size)
        return data

    def to_representation(self, value: Any) -> Any:
        return value


class TemplateReplaceInputSerializer(StrictSerializer):
    """PUT /templates/{name}: the new subject, html and text (an omitted html/text is empty)."""

    subject = HeaderTextField(min_length=1, max_length=998)
    html = StrictCharField(required=False, allow_blank=True, max_length=MAX_SOURCE_CHARS)
    text = StrictCharField(required=False, allow_blank=True, max_length=MAX_SOURCE_CHARS)


@extend_schema_field({"type": "string", "pattern": NAME_PATTERN})
class TemplateNameField(StrictCharField):
    default_error_messages = {"name": "Use 1..100 characters of a-z 0-9 _ -."}

    def to_internal_value(self, data: Any) -> str:
        value = super().to_internal_value(data)
        if not re.fullmatch(NAME_PATTERN, value):
            self.fail("name")
        return value


class TemplateCreateInputSerializer(TemplateReplaceInputSerializer):
    name = TemplateNameField()


class TemplateRenderInputSerializer(StrictSerializer):
    variables = VariablesField(required=False)


class TemplateOutputSerializer(serializers.Serializer):
    name = serializers.CharField()
    subject = serializers.CharField()
    html = serializers.CharField()
    text = serializers.CharField()
    created_at = UtcDateTimeField()
    updated_at = UtcDateTimeField()


class TemplateResponseSerializer(serializers.Serializer):
    success = SuccessTrueField()
    data = TemplateOutputSerializer()


class TemplateListOutputSerializer(serializers.Serializer):
    templates = TemplateOutputSerializer(many=True)
    next_cursor = serializers.CharField(
        allow_null=True, help_text="Pass as ?cursor= for the next page; null on the last page."
    )


class TemplateListResponseSerializer(serializers.Serializer):
    success = SuccessTrueField()
    data = TemplateListOutputSerializer()


class TemplateDeletedOutputSerializer(serializers.Serializer):
    name = serializers.CharField()
    deleted = serializers.BooleanField()


class TemplateDeletedResponseSerializer(serializers.Serializer):
    success = SuccessTrueField()
    data = TemplateDeletedOutputSerializer()


class RenderedOutputSerializer(serializers.Serializer):
    subject = serializers.CharField()
    html = serializers.CharField(allow_blank=True)
    text = serializers.CharField(allow_blank=True)


class RenderedResponseSerializer(serializers.Serializer):
    success = SuccessTrueField()
    data = RenderedOutputSerializer()
