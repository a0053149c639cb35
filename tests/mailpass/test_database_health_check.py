"""The per-request database health check reads the socket instead of sending ``SELECT 1``
(mailpass/postgresql): a connection PostgreSQL closed is still found and replaced."""

import time

import pytest
from django.db import connection

pytestmark = pytest.mark.django_db


@pytest.fixture
def second_connection():
    """Another connection to the test database, like a worker thread's kept one."""
    if connection.vendor != "postgresql":
        pytest.skip("the PostgreSQL backend's health check")
    other = connection.copy()
    other.ensure_connection()
    other.set_autocommit(True)
    yield other
    other.close()


def test_the_backend_is_mailpass_s(second_connection):
    assert type(second_connection).__module__ == "mailpass.postgresql.base"


def test_an_idle_healthy_connection_is_usable_without_a_query(second_connection, monkeypatch):
    with second_connection.cursor() as cursor:
        cursor.execute("SELECT 1")

    def no_query(*args, **kwargs):
        raise AssertionError("the health check sent a query")

    monkeypatch.setattr(second_connection.connection, "cursor", no_query)
    monkeypatch.setattr(second_connection.connection, "execute", no_query)
    assert second_connection.is_usable() is True


def test_a_connection_the_server_terminated_is_not_usable_and_is_replaced(second_connection):
    pid = second_connection.connection.info.backend_pid
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_terminate_backend(%s)", [pid])
    deadline = time.monotonic() + 5
    while second_connection.is_usable():
        assert time.monotonic() < deadline, "a terminated connection still looks usable"
        time.sleep(0.02)

    # What Django does at the start of a request with CONN_HEALTH_CHECKS: the dead connection
    # is closed and the first query opens a new one, instead of failing.
    second_connection.close_if_unusable_or_obsolete()
    second_connection.close_if_health_check_failed()
    with second_connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        assert cursor.fetchone()[0] != pid


def test_a_connection_inside_a_transaction_is_asked_with_a_query(second_connection):
    second_connection.set_autocommit(False)
    with second_connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    assert second_connection.is_usable() is True
    second_connection.rollback()
    second_connection.set_autocommit(True)
