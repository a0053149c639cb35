"""``manage.py check --deploy`` is clean with production-like settings (a real subprocess)."""

import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest

PROJECT_DIR = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.slow


def production_env(tmp_path, **overrides: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "PYTEST_"))}
    env.update(
        SECRET_KEY=secrets.token_urlsafe(64),
        DEBUG="0",
        SECURE_SSL_REDIRECT="1",
        SECURE_HSTS_SECONDS="31536000",
        ALLOWED_HOSTS="mail.example.com",
        DATABASE_URL=os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/mailpass"),
        MAILPASS_DATA_DIR=str(tmp_path),
    )
    env.update(overrides)
    return env


def check_deploy(env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=PROJECT_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_check_deploy_is_clean_with_production_settings(tmp_path):
    result = check_deploy(production_env(tmp_path))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout
    assert "WARNING" not in result.stderr


def test_check_deploy_complains_when_production_settings_are_missing(tmp_path):
    result = check_deploy(
        production_env(tmp_path, DEBUG="1", SECURE_SSL_REDIRECT="0", SECURE_HSTS_SECONDS="0")
    )
    assert result.returncode != 0
    for warning in ("security.W004", "security.W008", "security.W018"):
        assert warning in result.stderr
