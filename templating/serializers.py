"""Input and output of /api/v1/templates (API.md section 13), strict like the mail endpoints."""

from rest_framework import serializers

from mail.serializers import HeaderTextField, StrictCharField, StrictSerializer, SuccessTrueField
from mail.status_serializers import UtcDateTimeField
from templating.fields import TemplateNameField, VariablesField

MAX_SOURCE_CHARS = 1024 * 1024


class TemplateReplaceInputSerializer(StrictSerializer):
    """PUT /templates/{name}: the new subject, html and text (an omitted html/text is empty)."""

    subject = HeaderTextField(min_length=1, max_length=998)
    html = StrictCharField(required=False, allow_blank=True, max_length=MAX_SOURCE_CHARS)
    text = StrictCharField(required=False, allow_blank=True, max_length=MAX_SOURCE_CHARS)


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
