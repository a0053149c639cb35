"""The suite's choice of PostgreSQL/Redis (tests/database_selection.py), and CI's strict mode."""

import os

import pytest

from tests import database_selection


@pytest.fixture
def clean_env(monkeypatch):
    for name in ("DATABASE_URL", "CACHE_URL", "MAILPASS_TEST_REQUIRE_SERVICES"):
        monkeypatch.delenv(name, raising=False)
    # _select() sets these; monkeypatch restores them afterwards.
    for name in ("MAILPASS_DATA_DIR", "CELERY_BROKER_URL", "CELERY_TASK_ALWAYS_EAGER"):
        monkeypatch.setenv(name, "kept")
    return monkeypatch


def test_it_falls_back_to_sqlite_when_nothing_answers(clean_env):
    clean_env.setattr(database_selection, "_answers", lambda host, port: False)
    assert database_selection._select() == []
    assert "DATABASE_URL" not in os.environ


def test_ci_fails_when_postgresql_and_redis_are_missing(clean_env):
    clean_env.setattr(database_selection, "_answers", lambda host, port: False)
    clean_env.setenv("MAILPASS_TEST_REQUIRE_SERVICES", "1")
    missing = database_selection._select()
    assert "PostgreSQL on 127.0.0.1:5432" in missing
    assert "Redis on 127.0.0.1:6379" in missing


def test_ci_refuses_sqlite_given_explicitly(clean_env):
    clean_env.setattr(database_selection, "_answers", lambda host, port: True)
    clean_env.setenv("MAILPASS_TEST_REQUIRE_SERVICES", "1")
    clean_env.setenv("DATABASE_URL", "sqlite:////tmp/x.sqlite3")
    assert any("PostgreSQL" in item for item in database_selection._select())


def test_it_picks_postgresql_and_redis_when_they_answer(clean_env):
    clean_env.setattr(database_selection, "_answers", lambda host, port: True)
    clean_env.setenv("MAILPASS_TEST_REQUIRE_SERVICES", "1")
    assert database_selection._select() == []
    assert os.environ["DATABASE_URL"].startswith("postgres://")
    assert os.environ["CACHE_URL"].startswith("redis://")
