"""The OpenAPI schema documents the suppression endpoints and every answer they give."""

import pytest
from drf_spectacular.generators import SchemaGenerator


@pytest.fixture
def schema(db) -> dict:
    return SchemaGenerator().get_schema(request=None, public=True)


def test_the_suppression_paths_are_documented_without_a_trailing_slash(schema):
    assert {"/api/v1/suppressions", "/api/v1/suppressions/{email}"} <= set(schema["paths"])
    assert set(schema["paths"]["/api/v1/suppressions"]) == {"get", "post"}
    assert set(schema["paths"]["/api/v1/suppressions/{email}"]) >= {"get", "delete"}


@pytest.mark.parametrize(
    ("path", "method", "statuses"),
    [
        ("/api/v1/suppressions", "get", {200, 400, 401, 403, 405, 429, 500, 503}),
        ("/api/v1/suppressions", "post", {200, 201, 400, 401, 403, 405, 413, 415, 429, 500, 503}),
        ("/api/v1/suppressions/{email}", "get", {200, 400, 401, 403, 404, 405, 429, 500, 503}),
        ("/api/v1/suppressions/{email}", "delete", {200, 400, 401, 403, 404, 405, 429, 500, 503}),
    ],
)
def test_every_answer_is_documented_in_the_envelope(schema, path, method, statuses):
    operation = schema["paths"][path][method]
    assert {int(code) for code in operation["responses"]} == statuses
    for code, response in operation["responses"].items():
        ref = response["content"]["application/json"]["schema"]["$ref"]
        assert ref.endswith("/ErrorResponse") == (int(code) >= 400)
    assert operation["security"] == [{"ApiKeyAuth": []}]


def test_the_body_refuses_unknown_fields_and_names_the_hand_made_reasons(schema):
    body = schema["components"]["schemas"]["SuppressionInputRequest"]
    assert body["additionalProperties"] is False
    assert set(body["required"]) == {"email", "reason"}
    assert body["properties"]["email"]["format"] == "email"
    list_params = {p["name"] for p in schema["paths"]["/api/v1/suppressions"]["get"]["parameters"]}
    assert {"email", "reason", "cursor"} <= list_params


def test_recipient_suppressed_is_an_error_code_of_the_schema(schema):
    codes = schema["components"]["schemas"]["CodeEnum"]["enum"]
    assert "RECIPIENT_SUPPRESSED" in codes
