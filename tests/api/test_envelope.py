"""Every answer under /api/ is the JSON envelope of API.md section 2, never an HTML page."""

import pytest

from mail.views import MailViewSet

pytestmark = [pytest.mark.django_db, pytest.mark.urls("tests.api.urls")]


def assert_error(response, status: int, code: str):
    assert response.status_code == status, response.content[:300]
    assert response["Content-Type"].startswith("application/json")
    body = response.json()
    assert body["success"] is False
    assert body["error"]["code"] == code
    assert isinstance(body["error"]["message"], str) and body["error"]["message"]
    assert isinstance(body["error"]["details"], dict)
    assert b"<html" not in response.content.lower()
    assert b"Traceback" not in response.content
    assert b"secret detail" not in response.content
    return body


@pytest.mark.parametrize("debug", [False, True])
def test_an_unknown_api_path_is_not_found_without_a_key(api_client, settings, debug):
    settings.DEBUG = debug
    assert_error(api_client.get("/api/v1/nothing-here"), 404, "NOT_FOUND")
    assert_error(api_client.post("/api/nothing/", {}, format="json"), 404, "NOT_FOUND")


@pytest.mark.parametrize("debug", [False, True])
def test_an_unknown_api_path_is_not_found_with_a_key(alice_client, settings, debug):
    settings.DEBUG = debug
    assert_error(alice_client.get("/api/v1/mail/unknown"), 404, "NOT_FOUND")


def test_a_wrong_method_is_method_not_allowed(alice_client):
    response = alice_client.get("/api/v1/mail/send")
    assert_error(response, 405, "METHOD_NOT_ALLOWED")
    assert "POST" in response["Allow"]


def test_a_body_that_is_not_json_is_unsupported(alice_client):
    response = alice_client.post(
        "/api/v1/probe/echo", data="to=user@example.com", content_type="text/plain"
    )
    assert_error(response, 415, "UNSUPPORTED_MEDIA_TYPE")


def test_a_form_body_is_unsupported(alice_client):
    response = alice_client.post(
        "/api/v1/probe/echo", {"to": "user@example.com"}, format="multipart"
    )
    assert_error(response, 415, "UNSUPPORTED_MEDIA_TYPE")


def test_malformed_json_is_a_validation_error(alice_client):
    response = alice_client.post(
        "/api/v1/probe/echo", data='{"to": "user@example.com",', content_type="application/json"
    )
    assert_error(response, 400, "VALIDATION_ERROR")


def test_json_nested_too_deeply_is_a_validation_error(alice_client):
    body = '{"metadata": ' + "[" * 100_000 + "]" * 100_000 + "}"
    response = alice_client.post("/api/v1/probe/echo", data=body, content_type="application/json")
    assert_error(response, 400, "VALIDATION_ERROR")


def test_json_constants_outside_the_standard_are_a_validation_error(alice_client):
    response = alice_client.post(
        "/api/v1/probe/echo", data='{"a": NaN}', content_type="application/json"
    )
    assert_error(response, 400, "VALIDATION_ERROR")


def test_well_formed_json_reaches_the_view(alice_client):
    response = alice_client.post("/api/v1/probe/echo", {"a": 1}, format="json")
    assert response.json() == {"success": True, "data": {"echo": {"a": 1}}}


def test_a_body_over_the_limit_is_too_large(alice_client, api_client, settings):
    settings.MAILPASS_MAX_BODY_BYTES = 100
    body = {"to": "user@example.com", "html": "x" * 200}
    for client in (alice_client, api_client):
        response = client.post("/api/v1/mail/send", body, format="json")
        error = assert_error(response, 413, "PAYLOAD_TOO_LARGE")["error"]
        assert error["details"] == {"max_bytes": 100}


@pytest.mark.parametrize("debug", [False, True])
def test_an_unexpected_error_in_an_api_view_is_an_internal_error(
    alice_client, settings, monkeypatch, debug
):
    settings.DEBUG = debug

    def crash(self, request):
        raise RuntimeError("a secret detail that must not leak")

    monkeypatch.setattr(MailViewSet, "send", crash)
    response = alice_client.post("/api/v1/mail/send", {"to": "a@example.com"}, format="json")
    assert_error(response, 500, "INTERNAL_ERROR")
    assert_error(alice_client.get("/api/v1/probe/crash"), 500, "INTERNAL_ERROR")


@pytest.mark.parametrize("debug", [False, True])
def test_an_unexpected_error_in_a_plain_django_view_is_an_internal_error(
    alice_client, settings, debug
):
    settings.DEBUG = debug
    assert_error(alice_client.get("/api/v1/probe/plain-crash"), 500, "INTERNAL_ERROR")


def test_a_lost_database_is_service_unavailable(alice_client, monkeypatch):
    from django.db import OperationalError

    def down(self, request):
        raise OperationalError("connection refused")

    monkeypatch.setattr(MailViewSet, "send", down)
    response = alice_client.post("/api/v1/mail/send", {}, format="json")
    assert_error(response, 503, "SERVICE_UNAVAILABLE")
    assert response["Retry-After"]


def test_pages_outside_the_api_keep_html_errors(client):
    response = client.get("/not-an-api-page")
    assert response.status_code == 404
    assert not response["Content-Type"].startswith("application/json")
