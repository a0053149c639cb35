"""Fixtures of the queue tests: queued messages, and the environment of child processes."""

import os
from collections.abc import Callable

import pytest
from django.db import connection

from mail.models import Message
from mail.queue import queue_enqueue
from tests.factories import MessageFactory

MANAGE_PY = os.path.join(os.path.dirname(__file__), "..", "..", "manage.py")


@pytest.fixture
def enqueue() -> Callable[..., list[Message]]:
    """Queue ``count`` messages through the queue service (the batch endpoint's write path)."""

    def make(*, provider, count: int = 1, is_test: bool = False, **fields) -> list[Message]:
        messages = [
            MessageFactory.build(
                account=provider.account, to_email=f"user{n}@example.com", is_test=is_test, **fields
            )
            for n in range(count)
        ]
        queue_enqueue(messages=messages, provider=provider)
        return messages

    return make


@pytest.fixture
def no_kick(monkeypatch) -> None:
    """Enqueueing does not drain in this process (eager mode would): other processes do."""
    monkeypatch.setattr("mail.queue.enqueue.queue_drain_kick", lambda **kwargs: None)


@pytest.fixture
def child_env(settings) -> dict[str, str]:
    """Environment for a manage.py / celery child process using the test database."""
    if connection.vendor != "postgresql":
        pytest.skip(
            "PostgreSQL-only proof: child processes cannot see SQLite's in-memory test database"
        )
    db = connection.settings_dict
    env = dict(os.environ)
    env.update(
        DATABASE_URL=(
            f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"
        ),
        MAILPASS_SMTP_CA_FILE=settings.MAILPASS_SMTP_CA_FILE or "",
        CONN_MAX_AGE="0",
    )
    return env


@pytest.fixture
def sent_writes_fail():
    """PostgreSQL refuses every write that marks a message ``sent`` ("disk full", after 0.2 s:
    a slow failure); calling the fixture's value repairs it."""
    if connection.vendor != "postgresql":
        pytest.skip("the failing write is a PostgreSQL trigger")
    with connection.cursor() as cursor:
        cursor.execute(
            """
            CREATE FUNCTION mp_test_sent_fails() RETURNS trigger AS $$
            BEGIN
                IF NEW.status = 'sent' THEN
                    PERFORM pg_sleep(0.2);
                    RAISE EXCEPTION 'disk full';
                END IF;
                RETURN NEW;
            END $$ LANGUAGE plpgsql;
            CREATE TRIGGER mp_test_sent_fails BEFORE UPDATE ON mail_message
            FOR EACH ROW EXECUTE FUNCTION mp_test_sent_fails();
            """
        )

    def repair() -> None:
        with connection.cursor() as cursor:
            cursor.execute(
                "DROP TRIGGER IF EXISTS mp_test_sent_fails ON mail_message;"
                "DROP FUNCTION IF EXISTS mp_test_sent_fails();"
            )

    yield repair
    repair()
