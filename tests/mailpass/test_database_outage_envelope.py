"""A database outage anywhere on an API path answers 503 SERVICE_UNAVAILABLE, never HTML or 500.

The real outage (a PostgreSQL server stopped under gunicorn) is drilled in tests/drills; these
pin each place the error can surface: authentication, the view, and plain Django code under /api/.
"""

import pytest
from django.db import InterfaceError, OperationalError
from django.urls import include, path

from mail.views import MailViewSet

STATUS_PATH = "/api/v1/mail/status/abc@mailpass.im"


def plain_api_view(request):
    raise OperationalError("connection to server at 127.0.0.1 failed: Connection refused")


urlpatterns = [
    path("api/v1/plain", plain_api_view),
    path("", include("mailpass.urls")),
]


def assert_service_unavailable(response) -> None:
    assert response.status_code == 503
    assert response["Content-Type"] == "application/json"
    assert response["Retry-After"].isdigit()
    assert response.json() == {
        "success": False,
        "error": {
            "code": "SERVICE_UNAVAILABLE",
            "message": "The service is temporarily unavailable.",
            "details": {},
        },
    }


@pytest.mark.parametrize("error", [OperationalError, InterfaceError])
def test_an_outage_during_authentication_answers_503(monkeypatch, alice_client, error):
    def unreachable(**kwargs):
        raise error("server closed the connection unexpectedly")

    monkeypatch.setattr("accounts.authentication.api_key_authenticate", unreachable)
    assert_service_unavailable(alice_client.get(STATUS_PATH))


def test_an_outage_inside_the_view_answers_503(monkeypatch, alice_client):
    def unreachable(self, request, message_id):
        raise OperationalError("consuming input failed: server closed the connection")

    monkeypatch.setattr(MailViewSet, "status", unreachable)
    assert_service_unavailable(alice_client.get(STATUS_PATH))


@pytest.mark.urls(__name__)
def test_an_outage_in_plain_django_code_under_the_api_answers_503(client):
    assert_service_unavailable(client.get("/api/v1/plain"))


def test_the_error_message_never_carries_the_database_address(monkeypatch, alice_client):
    def unreachable(**kwargs):
        raise OperationalError('connection to server at "10.0.0.5", port 5432 failed')

    monkeypatch.setattr("accounts.authentication.api_key_authenticate", unreachable)
    assert b"10.0.0.5" not in alice_client.get(STATUS_PATH).content
