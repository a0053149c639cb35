"""The real service as a subprocess: gunicorn serving mailpass.wsgi, and manage.py commands.

Drills need a process of their own: the service under test must hold its own database
connections, broker settings and caches, so that stopping PostgreSQL or Redis hits it the way it
would hit production, while the test process watches from outside.
"""

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from tests.smtp_server import free_port

PROJECT_DIR = Path(__file__).resolve().parents[2]


def _venv_bin(name: str) -> str:
    candidate = Path(sys.executable).parent / name
    return str(candidate) if candidate.exists() else name


@dataclass
class HttpAnswer:
    status: int
    headers: dict[str, str]
    body: bytes
    seconds: float

    @property
    def json(self) -> dict:
        return json.loads(self.body)


def service_env(*, database_url: str, data_dir: str, **extra: str) -> dict[str, str]:
    """The environment of the service: its database, its own data dir, eager Celery by default.

    The cache is local memory unless asked: the service's rate-limit counters must not mix with
    the test process's cache.
    """
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("DJANGO_", "PYTEST_")) and key != "CACHE_URL"
    }
    env.update(
        DATABASE_URL=database_url,
        MAILPASS_DATA_DIR=data_dir,
        DJANGO_SETTINGS_MODULE="mailpass.settings",
        CELERY_BROKER_URL="",
        CELERY_TASK_ALWAYS_EAGER="1",
        DATABASE_CONNECT_TIMEOUT="2",
        LOG_LEVEL="INFO",
        PYTHONUNBUFFERED="1",
    )
    env.update(extra)
    return env


class MailPassService:
    """gunicorn on a free loopback port, plus ``manage()`` for commands with the same env."""

    def __init__(self, env: dict[str, str], *, workers: int = 1) -> None:
        self.env = env
        self.workers = workers
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.log_path = Path(tempfile.mkstemp(prefix="mailpass-drill-gunicorn-", suffix=".log")[1])
        self.process: subprocess.Popen | None = None

    def manage(self, *args: str, check: bool = True, **env: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "manage.py", *args],
            cwd=PROJECT_DIR,
            env={**self.env, **env},
            capture_output=True,
            text=True,
            timeout=180,
            check=check,
        )

    def start(self) -> "MailPassService":
        self._log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [
                _venv_bin("gunicorn"),
                "mailpass.wsgi",
                "-b",
                f"127.0.0.1:{self.port}",
                "--workers",
                str(self.workers),
                "--timeout",
                "60",
                "--graceful-timeout",
                "5",
            ],  # fmt: skip
            cwd=PROJECT_DIR,
            env=self.env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"gunicorn exited at start-up:\n{self.log()}")
            try:
                self.request("GET", "/healthz", timeout=10)
                return self
            except OSError:
                time.sleep(0.2)
        log = self.log()
        self.stop()
        raise RuntimeError(f"gunicorn did not answer within 60 s:\n{log}")

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if getattr(self, "_log", None):
            self._log.close()
        self.log_path.unlink(missing_ok=True)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def request(
        self,
        method: str,
        path: str,
        *,
        key: str | None = None,
        body: dict | None = None,
        headers: dict[str, str] | None = None,
        timeout: float = 30,
    ) -> HttpAnswer:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(self.base_url + path, data=data, method=method)
        if data is not None:
            request.add_header("Content-Type", "application/json")
        if key:
            request.add_header("Authorization", f"Bearer {key}")
        for name, value in (headers or {}).items():
            request.add_header(name, value)
        started = time.monotonic()
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                status, answer_headers, payload = response.status, response.headers, response.read()
        except urllib.error.HTTPError as error:
            status, answer_headers, payload = error.code, error.headers, error.read()
        return HttpAnswer(
            status=status,
            headers=dict(answer_headers.items()),
            body=payload,
            seconds=time.monotonic() - started,
        )
