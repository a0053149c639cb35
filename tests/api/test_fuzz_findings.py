"""What the schema fuzzing (tests/api/test_schema_fuzz.py) found, each kept as a plain test."""

import pytest

from tests.api.test_schema_fuzz import envelope_problems

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    "path", ["/api/v1/mail/send", "/api/v1/mail/send-batch", "/api/v1/mail/status/abc@x.im"]
)
def test_options_is_method_not_allowed_in_the_envelope(alice_client, path):
    """DRF answered OPTIONS with its metadata document (view name, docstring), not the envelope."""
    response = alice_client.options(path)
    assert response.status_code == 405
    assert envelope_problems(405, response.json()) == []
    assert response.json()["error"]["code"] == "METHOD_NOT_ALLOWED"
    assert "OPTIONS" not in response["Allow"]


@pytest.fixture
def alice_test_client(alice, alice_provider):
    from rest_framework.test import APIClient

    from tests.factories import api_key_for

    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {api_key_for(alice, is_test=True)}")
    return client


MESSAGE = '{"to": "a@example.com", "subject": "Hi", "text": "t"%s}'


@pytest.mark.parametrize(
    ("extra", "field"),
    [
        (', "metadata": {"k": "v\\u0000"}', "metadata"),
        (', "metadata": {"k\\u0000": "v"}', "metadata"),
        (', "metadata": {"\\ud800": "v"}', "metadata"),
        (', "\\udc00": 1', "non_field_errors"),
        (', "metadata": {"k": ["a", {"b": "\\udbff"}]}', "metadata"),
    ],
)
def test_a_string_postgresql_cannot_store_is_a_validation_error(alice_test_client, extra, field):
    """NUL in metadata reached PostgreSQL's jsonb, an unpaired surrogate (in metadata or the
    name of an unknown field) the database or the error renderer: both were 500s."""
    from mail.models import Message

    for path, body in (
        ("/api/v1/mail/send", MESSAGE % extra),
        ("/api/v1/mail/send-batch", '{"messages": [%s]}' % (MESSAGE % extra)),
    ):
        response = alice_test_client.post(path, body, content_type="application/json")
        assert response.status_code == 400, response.content
        assert envelope_problems(400, response.json()) == []
        expected = "messages" if path.endswith("batch") else field
        assert list(response.json()["error"]["details"]) == [expected]
    assert not Message.objects.exists()


def test_a_surrogate_pair_is_one_character_and_is_kept(alice_test_client):
    from mail.models import Message

    body = MESSAGE % ', "metadata": {"k": "\\ud83d\\ude00"}'
    response = alice_test_client.post("/api/v1/mail/send", body, content_type="application/json")
    assert response.status_code == 200, response.content
    assert Message.objects.get().metadata == {"k": "\U0001f600"}


@pytest.mark.django_db
def test_an_empty_host_header_is_a_documented_400_in_the_envelope(alice):
    """Found by the schema fuzzing: Django refuses a bad Host before any view runs (400), on
    endpoints that take no body too; every operation documents that 400."""
    from drf_spectacular.generators import SchemaGenerator
    from rest_framework.test import APIClient

    from tests.factories import api_key_for

    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {api_key_for(alice, permissions=['webhooks'])}")
    response = client.post("/api/v1/webhooks/1/test", HTTP_HOST="")

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "VALIDATION_ERROR"
    paths = SchemaGenerator().get_schema(request=None, public=True)["paths"]
    for path, operations in paths.items():
        for method, operation in operations.items():
            assert "400" in operation["responses"], (method, path)
