"""Every API answer carries the security headers, errors and early refusals included."""

import pytest
from rest_framework.test import APIClient

STATUS_PATH = "/api/v1/mail/status/abc@mailpass.im"


def assert_security_headers(response) -> None:
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Referrer-Policy"] == "same-origin"
    assert response["X-Frame-Options"] == "DENY"
    assert response["Cross-Origin-Opener-Policy"] == "same-origin"
    assert response["Cache-Control"] == "no-store"


@pytest.mark.parametrize(
    ("method", "path", "extra", "status"),
    [
        ("get", STATUS_PATH, {}, None),  # authenticated, through the view
        ("get", "/api/v1/nowhere", {}, 404),
        ("delete", "/api/v1/mail/send", {}, 405),
        ("post", "/api/v1/mail/send", {"CONTENT_LENGTH": str(21 * 1024 * 1024)}, 413),
    ],
)
def test_api_answers_carry_the_security_headers(alice_client, method, path, extra, status):
    response = getattr(alice_client, method)(path, **extra)
    if status is not None:
        assert response.status_code == status
    assert_security_headers(response)


def test_an_unauthenticated_answer_carries_them_too(api_client):
    response = api_client.get(STATUS_PATH)
    assert response.status_code == 401
    assert_security_headers(response)


def test_it_sends_hsts_over_https_when_configured(settings, alice_key):
    settings.SECURE_HSTS_SECONDS = 31536000
    settings.SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    settings.SECURE_HSTS_PRELOAD = True
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {alice_key}")
    response = client.get(STATUS_PATH, secure=True)
    assert response["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains; preload"
    assert_security_headers(response)


def test_it_sends_no_hsts_by_default(alice_client):
    assert "Strict-Transport-Security" not in alice_client.get(STATUS_PATH, secure=True)


def test_it_redirects_plain_http_to_https_when_configured(settings, api_client):
    settings.SECURE_SSL_REDIRECT = True
    response = api_client.get(STATUS_PATH)
    assert response.status_code == 301
    assert response["Location"].startswith("https://")


def test_the_health_check_is_never_cached(client):
    assert "no-cache" in client.get("/healthz")["Cache-Control"]
