"""Fields shared by the templates API and the mail endpoints (``template``, ``variables``).

Only DRF here: ``mail.serializers`` imports these, and ``templating.serializers`` imports
``mail.serializers``.
"""

import json
import re
from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from templating.models import NAME_PATTERN

MAX_VARIABLES_BYTES = 64 * 1024


@extend_schema_field({"type": "string", "pattern": NAME_PATTERN})
class TemplateNameField(serializers.CharField):
    default_error_messages = {
        "invalid": "Must be a string.",
        "name": "Use 1..100 characters of a-z 0-9 _ -.",
    }

    def to_internal_value(self, data: Any) -> str:
        if not isinstance(data, str):
            self.fail("invalid")
        if not re.fullmatch(NAME_PATTERN, data):
            self.fail("name")
        return data


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
