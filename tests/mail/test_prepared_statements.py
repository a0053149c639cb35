"""The statements on every send's and status lookup's path run prepared on PostgreSQL, and
Django's execute wrappers still see them (``mailpass.rows.prepared_cursor``)."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from accounts.services import api_key_authenticate, api_key_create, api_key_revoke

pytestmark = pytest.mark.django_db


def _prepared_statements(text: str) -> int:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_prepared_statements WHERE statement LIKE %s", [f"%{text}%"]
        )
        return cursor.fetchone()[0]


def test_authentication_is_prepared_once_and_seen_by_execute_wrappers(alice):
    created = api_key_create(account=alice)
    seen = []

    def wrapper(execute, sql, params, many, context):
        seen.append(sql)
        return execute(sql, params, many, context)

    with connection.execute_wrapper(wrapper):
        for _ in range(3):
            assert api_key_authenticate(plain_key=created.plain_key).pk == created.api_key.pk
    assert len([sql for sql in seen if "key_hash" in sql]) == 3
    if connection.vendor == "postgresql":
        assert _prepared_statements("WHERE k.key_hash = $3") == 1


def test_while_queries_are_logged_the_log_shows_the_read(alice):
    created = api_key_create(account=alice)
    with CaptureQueriesContext(connection) as queries:
        api_key_authenticate(plain_key=created.plain_key)
    assert any("key_hash" in q["sql"] for q in queries.captured_queries)


def test_a_revoked_key_is_refused_by_the_prepared_read_at_once(alice):
    created = api_key_create(account=alice)
    assert api_key_authenticate(plain_key=created.plain_key) is not None
    api_key_revoke(api_key=created.api_key)
    assert api_key_authenticate(plain_key=created.plain_key) is None
    assert api_key_authenticate(plain_key=created.plain_key + "x") is None


def test_a_send_and_a_status_lookup_use_prepared_statements(alice_client, alice_provider):
    if connection.vendor != "postgresql":
        pytest.skip("prepared statements are PostgreSQL's")
    body = {"to": "user@example.com", "subject": "Hi", "text": "Hello"}
    for n in range(2):
        answer = alice_client.post(
            "/api/v1/mail/send", body, format="json", HTTP_IDEMPOTENCY_KEY=f"key-{n}"
        )
        assert answer.status_code == 200, answer.content
        message_id = answer.json()["data"]["message_id"]
        assert alice_client.get(f"/api/v1/mail/status/{message_id}").status_code == 200
    for statement in (
        "INSERT INTO mail_idempotencyrecord",
        'INSERT INTO "mail_message"',
        "WITH sent AS",
        "FROM mail_messageevent",
    ):
        assert _prepared_statements(statement) >= 1, statement
