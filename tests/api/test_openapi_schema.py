"""The OpenAPI schema is clean, names the seed's paths and documents every answer."""

import pytest
from django.core.management import call_command
from drf_spectacular.generators import SchemaGenerator


@pytest.fixture
def schema(db) -> dict:
    return SchemaGenerator().get_schema(request=None, public=True)


def test_the_schema_generates_without_warnings_and_validates(tmp_path):
    # --fail-on-warn turns any drf-spectacular warning into an error (SystemExit/exception).
    call_command(
        "spectacular", "--validate", "--fail-on-warn", "--file", str(tmp_path / "schema.yaml")
    )


def test_the_paths_are_the_seeds_without_a_trailing_slash(schema):
    assert {
        "/api/v1/mail/send",
        "/api/v1/mail/send-batch",
        "/api/v1/mail/status/{message_id}",
        "/api/v1/mail/cancel/{message_id}",
        "/api/v1/templates",
        "/api/v1/templates/{name}",
        "/api/v1/templates/{name}/render",
    } <= set(schema["paths"])
    assert not [path for path in schema["paths"] if path.endswith("/")]


@pytest.mark.django_db
def test_a_trailing_slash_is_still_tolerated(alice_client, alice_provider):
    body = {"to": "a@example.com", "subject": "Hi", "text": "t"}
    sent = alice_client.post("/api/v1/mail/send/", body, format="json")
    assert sent.status_code == 200
    message_id = sent.json()["data"]["message_id"]
    batch = alice_client.post("/api/v1/mail/send-batch/", {"messages": [body]}, format="json")
    assert batch.status_code == 200
    assert alice_client.get(f"/api/v1/mail/status/{message_id}/").status_code == 200


@pytest.mark.parametrize(
    ("path", "method", "statuses"),
    [
        ("/api/v1/mail/send", "post", {200, 400, 401, 403, 405, 409, 413, 415, 422, 429, 500, 503}),
        (
            "/api/v1/mail/send-batch",
            "post",
            {200, 400, 401, 403, 405, 409, 413, 415, 422, 429, 500, 503},
        ),
        ("/api/v1/mail/status/{message_id}", "get", {200, 400, 401, 403, 404, 405, 429, 500, 503}),
        (
            "/api/v1/mail/cancel/{message_id}",
            "post",
            {200, 400, 401, 403, 404, 405, 409, 429, 500, 503},
        ),
    ],
)
def test_every_answer_an_endpoint_can_give_is_documented(schema, path, method, statuses):
    operation = schema["paths"][path][method]
    assert {int(code) for code in operation["responses"]} == statuses
    for code, response in operation["responses"].items():
        ref = response["content"]["application/json"]["schema"]["$ref"]
        assert ref.endswith("/ErrorResponse") == (int(code) >= 400)
    assert "Retry-After" in operation["responses"]["429"]["headers"]
    assert "Retry-After" in operation["responses"]["503"]["headers"]
    assert operation["security"] == [{"ApiKeyAuth": []}]


def test_the_request_bodies_refuse_unknown_fields_and_need_html_or_text(schema):
    components = schema["components"]["schemas"]
    message = components["MessageInputRequest"]
    assert message["additionalProperties"] is False
    # html or text, or a template (API.md s.13) that gives subject, html and text.
    assert [branch["required"] for branch in message["anyOf"]] == [["html"], ["text"], ["template"]]
    assert message["properties"]["to"]["format"] == "email"
    assert components["BatchInputRequest"]["additionalProperties"] is False
    send = schema["paths"]["/api/v1/mail/send"]["post"]
    (idempotency,) = [p for p in send["parameters"] if p["name"] == "Idempotency-Key"]
    assert idempotency["schema"] == {"type": "string", "minLength": 1, "maxLength": 255}
    example = send["requestBody"]["content"]["application/json"]["examples"]
    assert next(iter(example.values()))["value"]["subject"] == "Order Confirmation"


def test_attachments_and_headers_are_described_with_their_rules(schema):
    message = schema["components"]["schemas"]["MessageInputRequest"]["properties"]
    attachments = message["attachments"]
    assert attachments["type"] == "array" and attachments["maxItems"] == 20
    item = attachments["items"]
    assert item["required"] == ["filename", "content"]
    assert item["additionalProperties"] is False
    assert set(item["properties"]) == {"filename", "content", "content_type", "content_id"}
    assert item["properties"]["filename"]["maxLength"] == 255
    assert item["properties"]["content"]["format"] == "byte"
    assert item["properties"]["content_id"]["maxLength"] == 128
    headers = message["headers"]
    assert headers["type"] == "object" and headers["maxProperties"] == 20
    assert headers["additionalProperties"]["type"] == "string"
    assert "Message-ID" in headers["description"]
    # Section 4's top-level batch defaults do not include them.
    batch = schema["components"]["schemas"]["BatchInputRequest"]["properties"]
    assert "attachments" not in batch and "headers" not in batch


def test_status_describes_attachment_metadata_without_content(schema):
    components = schema["components"]["schemas"]
    message = components["StatusMessage"]["properties"]
    attachment = components[message["attachments"]["items"]["$ref"].rsplit("/", 1)[1]]
    assert set(attachment["properties"]) == {"filename", "content_type", "size", "content_id"}


@pytest.mark.django_db
def test_every_send_request_example_of_the_schema_is_accepted(
    schema, alice_client, alice_provider, smtp_server
):
    send = schema["paths"]["/api/v1/mail/send"]["post"]
    examples = send["requestBody"]["content"]["application/json"]["examples"]

    for name, example in examples.items():
        response = alice_client.post("/api/v1/mail/send", example["value"], format="json")
        assert response.status_code == 200, (name, response.json())
    assert len(smtp_server.messages) == len(examples) >= 2


def test_template_and_variables_are_described(schema):
    message = schema["components"]["schemas"]["MessageInputRequest"]
    assert message["properties"]["template"]["pattern"] == "^[a-z0-9_-]{1,100}$"
    assert message["properties"]["variables"]["type"] == "object"
    assert "subject" not in message.get("required", [])


def test_send_at_is_described_on_messages_and_the_batch(schema):
    components = schema["components"]["schemas"]
    for name in ("MessageInputRequest", "BatchInputRequest"):
        send_at = components[name]["properties"]["send_at"]
        assert (send_at["type"], send_at["format"]) == ("string", "date-time")
    assert "send_at" in components["SendOutput"]["properties"]
