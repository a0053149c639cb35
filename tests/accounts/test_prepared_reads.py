"""The reads on every request's path run as prepared statements on PostgreSQL, and Django's
execute wrappers still see them (``mailpass.rows.prepared_cursor``)."""

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
