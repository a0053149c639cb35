"""Pick the services the suite runs on, before Django reads its settings.

Loaded as a pytest plugin (``-p tests.database_selection``) so it runs before pytest-django
sets Django up. PostgreSQL is used when ``DATABASE_URL`` is set or a server answers on
127.0.0.1:5432; Redis backs the cache when one answers on 127.0.0.1:6379. With
``MAILPASS_TEST_REQUIRE_SERVICES=1`` (CI) a missing service fails the run instead of falling
back to SQLite and local memory.
"""

import os
import socket
import tempfile

import pytest

POSTGRES_URL = "postgres://postgres@127.0.0.1:5432/mailpass"
REDIS_URL = "redis://127.0.0.1:6379/15"


def _answers(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def _select() -> list[str]:
    # Popped: child processes (pytest runs of the selection tests) decide for themselves.
    if os.environ.pop("MAILPASS_TEST_EMBEDDED", "") == "1":
        # The embedded default, whatever answers: SQLite and local memory (PostgreSQL-only
        # proofs skip, naming why).
        os.environ["DATABASE_URL"] = "sqlite:///" + os.path.join(
            tempfile.mkdtemp(prefix="mailpass-test-db-"), "test.db"
        )
        os.environ["CACHE_URL"] = "locmemcache://"
        os.environ["MAILPASS_TEST_REQUIRE_SERVICES"] = "0"
    required = os.environ.get("MAILPASS_TEST_REQUIRE_SERVICES") == "1"
    missing = []
    if not os.environ.get("DATABASE_URL"):
        if _answers("127.0.0.1", 5432):
            os.environ["DATABASE_URL"] = POSTGRES_URL
        elif required:
            missing.append("PostgreSQL on 127.0.0.1:5432")
    elif required and not os.environ["DATABASE_URL"].startswith(
        ("postgres", "pgsql", "psql", "postgis")
    ):
        missing.append(f"PostgreSQL (DATABASE_URL is {os.environ['DATABASE_URL'].split(':')[0]})")
    if not os.environ.get("CACHE_URL"):
        if _answers("127.0.0.1", 6379):
            os.environ["CACHE_URL"] = REDIS_URL
        elif required:
            missing.append("Redis on 127.0.0.1:6379")
    elif required and not os.environ["CACHE_URL"].startswith("redis"):
        missing.append(f"Redis (CACHE_URL is {os.environ['CACHE_URL'].split(':')[0]})")
    # Tests never touch the developer's own data directory or .env broker settings.
    os.environ.setdefault("MAILPASS_DATA_DIR", tempfile.mkdtemp(prefix="mailpass-test-"))
    os.environ["CELERY_BROKER_URL"] = ""
    os.environ["CELERY_TASK_ALWAYS_EAGER"] = "1"
    return missing


_MISSING = _select()


def pytest_configure(config: pytest.Config) -> None:
    if _MISSING:
        raise pytest.UsageError(
            "MAILPASS_TEST_REQUIRE_SERVICES=1 but these services do not answer: "
            + ", ".join(_MISSING)
        )


def pytest_report_header(config: pytest.Config) -> list[str]:
    return [
        f"mailpass database: {os.environ.get('DATABASE_URL', 'sqlite (embedded default)')}",
        f"mailpass cache: {os.environ.get('CACHE_URL', 'local memory')}",
    ]
