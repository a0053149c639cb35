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
