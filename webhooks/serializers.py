"""Input and output of /api/v1/webhooks (API.md section 17), strict like the mail endpoints."""

from typing import Any
from urllib.parse import urlsplit

from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.validators import URLValidator
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from mail.serializers import (
    StrictBooleanField,
    StrictCharField,
    StrictSerializer,
    SuccessTrueField,
)
from mail.status_serializers import UtcDateTimeField
from webhooks.events import SUBSCRIBABLE_EVENT_TYPES

MAX_URL_CHARS = 2048
MAX_DESCRIPTION_CHARS = 255


@extend_schema_field(
    {"type": "string", "format": "uri", "maxLength": MAX_URL_CHARS, "pattern": "^https?://"}
)
class WebhookUrlField(StrictCharField):
    default_error_messages = {"url": "Enter a valid http or https URL."}

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("max_length", MAX_URL_CHARS)
        super().__init__(**kwargs)

    def to_internal_value(self, data: Any) -> str:
        value = super().to_internal_value(data)
        try:
            URLValidator(schemes=["http", "https"])(value)
            urlsplit(value).port  # noqa: B018  (raises on a port out of range)
        except (DjangoValidationError, ValueError):
            self.fail("url")
        return value


@extend_schema_field(
    {
        "type": "array",
        "items": {"type": "string", "enum": list(SUBSCRIBABLE_EVENT_TYPES)},
        "uniqueItems": True,
        "description": "Event types to receive; empty: all of them.",
    }
)
class EventTypesField(serializers.ListField):
    default_error_messages = {"not_a_list": "Must be an array of event types."}

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault(
            "child",
            serializers.ChoiceField(
                choices=SUBSCRIBABLE_EVENT_TYPES,
                error_messages={"invalid_choice": '"{input}" is not an event type.'},
            ),
        )
        kwargs.setdefault("max_length", len(SUBSCRIBABLE_EVENT_TYPES))
        super().__init__(**kwargs)

    def to_internal_value(self, data: Any) -> list[str]:
        if isinstance(data, list) and any(not isinstance(item, str) for item in data):
            raise serializers.ValidationError("Must be an array of event types (strings).")
        value = super().to_internal_value(data)
        if len(set(value)) != len(value):
            raise serializers.ValidationError("Each event type may be given once.")
        return value


class EndpointCreateSerializer(StrictSerializer):
    url = WebhookUrlField()
    events = EventTypesField(required=False)
    description = StrictCharField(
        required=False, allow_blank=True, max_length=MAX_DESCRIPTION_CHARS
    )
    active = StrictBooleanField(required=False)


class EndpointUpdateSerializer(StrictSerializer):
    url = WebhookUrlField(required=False)
    events = EventTypesField(required=False)
    description = StrictCharField(
        required=False, allow_blank=True, max_length=MAX_DESCRIPTION_CHARS
    )
    active = StrictBooleanField(required=False)


class LastDeliverySerializer(serializers.Serializer):
    attempted_at = UtcDateTimeField(source="last_attempt_at")
    status_code = serializers.IntegerField(source="last_status_code", allow_null=True)
    success = serializers.SerializerMethodField()
    error = serializers.SerializerMethodField()

    def get_success(self, endpoint) -> bool:
        return endpoint.last_success_at == endpoint.last_attempt_at

    def get_error(self, endpoint) -> str | None:
        return endpoint.last_error or None


class EndpointOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    url = serializers.CharField()
    events = serializers.ListField(child=serializers.CharField())
    description = serializers.CharField()
    active = serializers.BooleanField()
    disabled_reason = serializers.SerializerMethodField()
    last_delivery = serializers.SerializerMethodField()
    created_at = UtcDateTimeField()

    def get_disabled_reason(self, endpoint) -> str | None:
        return endpoint.disabled_reason or None

    @extend_schema_field(LastDeliverySerializer(allow_null=True))
    def get_last_delivery(self, endpoint) -> dict | None:
        if endpoint.last_attempt_at is None:
            return None
        return LastDeliverySerializer(endpoint).data


class EndpointWithSecretOutputSerializer(EndpointOutputSerializer):
    secret = serializers.CharField(help_text="Shown now, never again.")


class EndpointListOutputSerializer(serializers.Serializer):
    endpoints = EndpointOutputSerializer(many=True)


class EndpointDeletedOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    deleted = serializers.BooleanField()


class TestOutputSerializer(serializers.Serializer):
    webhook_id = serializers.CharField()
    success = serializers.BooleanField(help_text="The endpoint answered 2xx.")
    status_code = serializers.IntegerField(allow_null=True)
    ms = serializers.IntegerField(allow_null=True, help_text="How long the attempt took.")
    error = serializers.CharField(allow_null=True)


def _envelope(name: str, data_serializer: serializers.Serializer) -> type[serializers.Serializer]:
    return type(
        name,
        (serializers.Serializer,),
        {"success": SuccessTrueField(), "data": data_serializer},
    )


EndpointResponseSerializer = _envelope("WebhookEndpointResponse", EndpointOutputSerializer())
EndpointWithSecretResponseSerializer = _envelope(
    "WebhookEndpointWithSecretResponse", EndpointWithSecretOutputSerializer()
)
EndpointListResponseSerializer = _envelope(
    "WebhookEndpointListResponse", EndpointListOutputSerializer()
)
EndpointDeletedResponseSerializer = _envelope(
    "WebhookEndpointDeletedResponse", EndpointDeletedOutputSerializer()
)
TestResponseSerializer = _envelope("WebhookTestResponse", TestOutputSerializer())
