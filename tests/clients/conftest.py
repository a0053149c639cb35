"""A running MailPass for the client libraries' own tests, which run as child processes.

``mailpass_server`` is the live server (pytest-django's ``live_server``, on the suite's
PostgreSQL) with an account whose default provider is the aiosmtpd sink, and the keys the
client tests need. ``child_run`` runs a client's test command against it with a clean
environment: no DJANGO_SETTINGS_MODULE, no database or Redis URL, nothing of this process but
PATH, a home and the variables named in ``clients/python/tests/conftest.py``.
"""

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from django.db import connection

from tests.clients.proxy import AnswerDroppingProxy
from tests.factories import SmtpProviderFactory, UserFactory, api_key_for
from tests.smtp_server import ReceivedMessage, SmtpTestServer

ROOT = Path(__file__).resolve().parents[2]
PYTHON_CLIENT = ROOT / "clients" / "python"
PHP_CLIENT = ROOT / "clients" / "php"
ALL_PERMISSIONS = ["mail", "templates", "suppressions", "webhooks"]


@dataclass
class ChildResult:
    returncode: int
    output: str
    facts: dict[str, list] = field(default_factory=dict)

    def assert_passed(self) -> None:
        """Exit 0, and every test ran: a skipped test would hide a missing part."""
        assert self.returncode == 0, self.output[-6000:]
        summary = "\n".join(self.output.strip().splitlines()[-3:])
        assert not re.search(r"\bskipped\b|Skipped: [1-9]", summary), self.output[-3000:]
        # pytest's "N passed", PHPUnit's "OK (N tests, ...)": some test ran.
        assert re.search(r"\b[1-9]\d* passed|OK \([1-9]\d* tests?", summary), self.output[-3000:]


@dataclass
class MailPassServer:
    url: str
    env: dict[str, str]
    smtp: SmtpTestServer
    tmp_path: Path

    def received(self, message_id: str) -> list[ReceivedMessage]:
        return self.smtp.by_message_id(message_id)

    def run(
        self, command: list[str], *, cwd: Path, extra_env: dict[str, str] | None = None
    ) -> ChildResult:
        report = self.tmp_path / f"facts-{len(list(self.tmp_path.glob('facts-*')))}.json"
        env = {**self.env, **(extra_env or {}), "MAILPASS_TEST_REPORT": str(report)}
        process = subprocess.run(
            command, cwd=cwd, env=env, capture_output=True, text=True, timeout=240
        )
        facts = json.loads(report.read_text()) if report.exists() and report.stat().st_size else {}
        return ChildResult(process.returncode, process.stdout + process.stderr, facts)

    def run_python_tests(self, *paths: str, extra_env: dict[str, str] | None = None):
        """The Python client's pytest, on its own configuration, without pytest-django."""
        command = [sys.executable, "-m", "pytest", "-p", "no:django", "-q", "-rs", *paths]
        # The shared venv's other pytest plugins (hypothesis, schemathesis...) cost seconds
        # to import and the client's tests use none of them.
        env = {"PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1", **(extra_env or {})}
        return self.run(command, cwd=PYTHON_CLIENT, extra_env=env)


def clean_env(home: Path) -> dict[str, str]:
    """What a client's process inherits: nothing of the server's settings."""
    return {
        "PATH": os.environ.get("PATH", "/usr/local/bin:/usr/bin:/bin"),
        "HOME": str(home),
        "LANG": "C.UTF-8",
        "TMPDIR": str(home),
        "PYTHONDONTWRITEBYTECODE": "1",
    }


@pytest.fixture
def mailpass_server(live_server, settings, smtp_server, tmp_path) -> Iterator[MailPassServer]:
    if connection.vendor != "postgresql":
        pytest.skip(
            "the client libraries are proven against the server on PostgreSQL (CI's first "
            "pass); the embedded SQLite pass does not run them again"
        )
    # The webhook tests' receiver listens on loopback.
    settings.MAILPASS_WEBHOOK_ALLOW_PRIVATE_NETWORKS = True
    settings.MAILPASS_PUBLIC_URL = live_server.url
    alice = UserFactory(username="alice")
    SmtpProviderFactory(account=alice, host=smtp_server.host, port=smtp_server.port)
    bob = UserFactory(username="bob")  # no provider
    home = tmp_path / "home"
    home.mkdir()
    env = clean_env(home)
    env.update(
        MAILPASS_BASE_URL=live_server.url,
        MAILPASS_API_KEY=api_key_for(alice, permissions=ALL_PERMISSIONS),
        MAILPASS_MAIL_ONLY_KEY=api_key_for(alice, permissions=["mail"]),
        MAILPASS_TEMPLATES_ONLY_KEY=api_key_for(alice, permissions=["templates"]),
        MAILPASS_NO_PROVIDER_KEY=api_key_for(bob, permissions=ALL_PERMISSIONS),
    )
    yield MailPassServer(url=live_server.url, env=env, smtp=smtp_server, tmp_path=tmp_path)


@pytest.fixture
def answer_dropping_proxy(live_server) -> Iterator[AnswerDroppingProxy]:
    proxy = AnswerDroppingProxy(live_server.url).start()
    yield proxy
    proxy.stop()
