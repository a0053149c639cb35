"""OpenAPI details of the mail endpoints that drf-spectacular cannot read off the serializers.

Loaded by ``MailConfig.ready``. The schema is checked against the running app by the schema
fuzzing tests (``tests/api/test_schema_fuzz.py``), so what it promises must be what the
serializers enforce: unknown fields are refused, and a message needs a non-empty html or text.
"""

from drf_spectacular.extensions import OpenApiSerializerExtension


class StrictSerializerScheme(OpenApiSerializerExtension):
    target_class = "mail.serializers.StrictSerializer"
    match_subclasses = True

    def map_serializer(self, auto_schema, direction):
        from mail.serializers import MessageInputSerializer

        schema = auto_schema._map_serializer(self.target, direction, bypass_extensions=True)
        schema["additionalProperties"] = False
        if isinstance(self.target, MessageInputSerializer) or self.target is (
            MessageInputSerializer
        ):
            schema["anyOf"] = [
                {"required": [name], "properties": {name: {"type": "string", "minLength": 1}}}
                for name in ("html", "text")
            ]
        return schema
