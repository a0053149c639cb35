"""Settings come from the environment; a bad value stops the start with a message naming it."""

import os
import subprocess
import sys

import pytest
from django.conf import settings

# Inherited from the test run (tests/database_selection.py sets some); the embedded default
# is what a process without them gets.
_NOT_INHERITED = {"DATABASE_URL", "CACHE_URL", "CELERY_BROKER_URL", "CELERY_TASK_ALWAYS_EAGER"}


def start_django(tmp_path, **env: str) -> subprocess.CompletedProcess:
    clean = {
        key: value
        for key, value in os.environ.items()
        if key not in _NOT_INHERITED
        and key not in ("SECRET_KEY", "DEBUG")
        and not key.startswith("MAILPASS_")
    }
    clean.update({"MAILPASS_DATA_DIR": str(tmp_path), **env})
    code = (
        "import django; django.setup(); from django.conf import settings as s; "
        "print(s.DATABASES['default']['ENGINE'], s.CELERY_TASK_ALWAYS_EAGER, len(s.SECRET_KEY))"
    )
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=settings.BASE_DIR,
        env={**clean, "DJANGO_SETTINGS_MODULE": "mailpass.settings"},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_with_no_environment_it_runs_on_the_embedded_default(tmp_path):
    result = start_django(tmp_path)
    assert result.returncode == 0, result.stderr
    engine, eager, secret_length = result.stdout.split()
    assert (engine, eager) == ("django.db.backends.sqlite3", "True")
    assert int(secret_length) >= 32
    assert (tmp_path / "dev-secret-key").exists()
    again = start_django(tmp_path)
    assert again.stdout == result.stdout  # the generated secret survives restarts


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("MAILPASS_MAX_BODY_BYTES", "ten"),
        ("MAILPASS_MAX_BODY_BYTES", "0"),
        ("MAILPASS_MAX_ATTACHMENT_BYTES", "0"),
        ("MAILPASS_API_RATE", "lots"),
        ("MAILPASS_PUBLIC_URL", "mail.example.com"),
        ("MAILPASS_TRUSTED_PROXY_COUNT", "-1"),
        ("MAILPASS_ENCRYPTION_KEY", "not-a-fernet-key"),
        ("SECRET_KEY", "short"),
    ],
)
def test_a_bad_value_stops_the_start_naming_the_variable(tmp_path, name, value):
    result = start_django(tmp_path, **{name: value})
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
    assert name in result.stderr
