"""Drill fixtures: a private PostgreSQL cluster and the real service running against it.

The cluster is made once per test session (initdb takes seconds); a migrated template database
is made once too, and each drill gets a fresh copy of it, so drills never see each other's rows.
"""

import os
import secrets
import shutil
import socket
import tempfile
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from itertools import count

import pytest

from tests.drills.private_postgres import PrivatePostgres, postgres_bin_dir
from tests.drills.service_process import MailPassService, service_env

TEMPLATE_DB = "mailpass_template"
_DATABASE_NUMBERS = count(1)

# One SECRET_KEY for every process of the drill: it derives the key that encrypts SMTP passwords.
DRILL_SECRET_KEY = "drill-" + secrets.token_urlsafe(40)


@pytest.fixture(scope="session")
def private_postgres() -> Iterator[PrivatePostgres]:
    bin_dir = postgres_bin_dir()
    if bin_dir is None:
        reason = "PostgreSQL server binaries (initdb, pg_ctl) are not installed; set PG_BIN"
        if os.environ.get("MAILPASS_TEST_REQUIRE_SERVICES") == "1":
            pytest.fail(reason)  # CI must run the drills, not skip them quietly
        pytest.skip(reason)
    cluster = PrivatePostgres(bin_dir).init()
    yield cluster
    cluster.destroy()


@pytest.fixture(scope="session")
def drill_template(private_postgres: PrivatePostgres) -> str:
    """A migrated database that every drill copies (CREATE DATABASE ... TEMPLATE)."""
    url = private_postgres.create_database(TEMPLATE_DB)
    data_dir = tempfile.mkdtemp(prefix="mailpass-drill-data-")
    try:
        env = service_env(database_url=url, data_dir=data_dir, SECRET_KEY=DRILL_SECRET_KEY)
        MailPassService(env).manage("migrate", "--no-input", "-v", "0")
    finally:
        shutil.rmtree(data_dir, ignore_errors=True)
    return TEMPLATE_DB


@dataclass
class Drill:
    """One running service on its own database, with an account, a key and maybe a provider."""

    postgres: PrivatePostgres
    service: MailPassService
    database: str
    key: str
    provider_id: int | None = None
    cleanup: list[Callable[[], None]] = field(default_factory=list)

    def rows(self, sql: str, params: tuple = ()) -> list[tuple]:
        """Read the service's database directly (the private cluster must be running)."""
        return self.postgres.query(self.database, sql, params)


@pytest.fixture
def drill_factory(private_postgres, drill_template) -> Iterator[Callable[..., Drill]]:
    """Start the service on a fresh copy of the template database.

    ``smtp_server`` (host, port) gives the account a default provider; ``env`` adds or overrides
    environment variables of the service (e.g. a broker URL).
    """
    drills: list[Drill] = []

    def start(
        *, smtp_server=None, provider_timeout: float = 5.0, workers: int = 1, **extra_env: str
    ) -> Drill:
        if not private_postgres.is_running:
            private_postgres.start()
        database = f"drill_{next(_DATABASE_NUMBERS)}_{secrets.token_hex(3)}"
        private_postgres.create_database(database, template=drill_template)
        data_dir = tempfile.mkdtemp(prefix="mailpass-drill-data-")
        env = service_env(
            database_url=private_postgres.url(database),
            data_dir=data_dir,
            SECRET_KEY=DRILL_SECRET_KEY,
            **extra_env,
        )
        service = MailPassService(env, workers=workers)
        key = service.manage("create_api_key", "alice", "--create-user").stdout.strip()
        provider_id = None
        if smtp_server is not None:
            provider_id = _create_provider(service, smtp_server, provider_timeout)
        drill = Drill(private_postgres, service.start(), database, key, provider_id)
        drill.cleanup.append(lambda: shutil.rmtree(data_dir, ignore_errors=True))
        drills.append(drill)
        return drill

    yield start
    for drill in drills:
        drill.service.stop()
        for step in drill.cleanup:
            step()
    if not private_postgres.is_running:
        private_postgres.start()


def _create_provider(service: MailPassService, smtp_server, timeout: float) -> int:
    created = service.manage(
        "add_smtp_provider", "alice", "--name", "drill smtp",
        "--host", smtp_server.host, "--port", str(smtp_server.port), "--security", "none",
        "--from-email", "support@yourdomain.com", "--from-name", "Drill",
        "--timeout", str(timeout), "--default",
    )  # fmt: skip
    return int(created.stdout.strip())


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A loopback port that accepts TCP connections and never says a word: a hung server."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(listener.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield listener.getsockname()[1]
    stop.set()
    thread.join()
    for conn in held:
        conn.close()
    listener.close()
