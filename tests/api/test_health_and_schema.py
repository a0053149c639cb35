import re

import pytest
from django.db import connection

from tests.smtp_server import free_port


@pytest.mark.django_db
def test_healthz_reports_the_database_and_the_broker(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": "ok", "broker": "eager"}
    assert "no-cache" in response["Cache-Control"]


@pytest.mark.django_db(transaction=True)
def test_healthz_is_unavailable_when_the_database_cannot_be_reached(client):
    """A real connection error: the connection is closed and pointed at a closed port."""
    if connection.vendor != "postgresql":
        pytest.skip("needs a database server to lose")
    saved = dict(connection.settings_dict)
    connection.close()
    connection.settings_dict["HOST"], connection.settings_dict["PORT"] = "127.0.0.1", free_port()
    try:
        response = client.get("/healthz")
    finally:
        connection.close()
        connection.settings_dict.clear()
        connection.settings_dict.update(saved)
    assert response.status_code == 503
    assert response.json()["database"] == "down"
    assert response.json()["status"] == "unavailable"


@pytest.mark.django_db
def test_healthz_is_unavailable_when_a_query_fails(client, monkeypatch):
    from django.db import OperationalError

    def broken_cursor(*args, **kwargs):
        raise OperationalError("server closed the connection unexpectedly")

    monkeypatch.setattr(connection, "cursor", broken_cursor)
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json()["database"] == "down"


@pytest.mark.django_db
def test_the_openapi_schema_names_the_three_mail_endpoints(client):
    response = client.get("/api/v1/schema/")
    assert response.status_code == 200
    text = response.content.decode()
    for path in ("/api/v1/mail/send", "/api/v1/mail/send-batch", "/api/v1/mail/status/"):
        assert path in text


@pytest.mark.django_db
def test_the_api_docs_page_answers(client):
    response = client.get("/api/docs/")
    assert response.status_code == 200
    assert b"swagger" in response.content.lower()


@pytest.mark.django_db
def test_the_api_docs_page_needs_no_cdn(client):
    page = client.get("/api/docs/").content.decode()
    assert "cdn.jsdelivr.net" not in page and "unpkg.com" not in page
    script = re.search(r'src="([^"]*swagger-ui-bundle\.js)"', page).group(1)
    assert client.get(script).status_code == 200
