"""The OpenAPI schema documents the status endpoint: parameter, body and errors."""

import pytest
from drf_spectacular.generators import SchemaGenerator

from mail.models import EventType, MessageStatus


@pytest.mark.django_db
def test_the_schema_documents_the_status_endpoint():
    schema = SchemaGenerator().get_schema(request=None, public=True)
    (path,) = [p for p in schema["paths"] if p.startswith("/api/v1/mail/status/")]
    assert path == "/api/v1/mail/status/{message_id}"
    operation = schema["paths"][path]["get"]
    assert operation["operationId"] == "mail_status"
    (parameter,) = operation["parameters"]
    assert (parameter["name"], parameter["in"]) == ("message_id", "path")
    assert "percent-encoded" in parameter["description"]
    assert set(operation["responses"]) == {
        "200",
        "400",
        "401",
        "403",
        "404",
        "405",
        "429",
        "500",
        "503",
    }
    ok = operation["responses"]["200"]["content"]["application/json"]["schema"]["$ref"]
    assert ok.endswith("/StatusResponse")
    components = schema["components"]["schemas"]

    def enum(field: dict) -> list[str]:
        if "$ref" in field:
            field = components[field["$ref"].rsplit("/", 1)[1]]
        return field["enum"]

    message = components["StatusMessage"]["properties"]
    assert enum(message["status"]) == MessageStatus.values
    assert message["error_message"]["nullable"] is True
    assert message["queue_id"]["nullable"] is True
    event = components["StatusEvent"]["properties"]
    assert enum(event["event_type"]) == EventType.values
    assert event["url"]["nullable"] is True
