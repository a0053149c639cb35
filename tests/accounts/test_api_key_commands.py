import os
import re
import subprocess
import sys
from io import StringIO

import pytest
from django.conf import settings
from django.core.management import CommandError, call_command
from django.db import connection

from accounts.models import ApiKey
from accounts.services import api_key_authenticate
from tests.factories import api_key_for

LIVE_KEY = re.compile(r"^mp_live_[A-Za-z0-9_-]{32,}$")
TEST_KEY = re.compile(r"^mp_test_[A-Za-z0-9_-]{32,}$")


def run(*args: str) -> str:
    out = StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


def manage(*args: str) -> subprocess.CompletedProcess:
    """Run manage.py in a subprocess on the test database (PostgreSQL only)."""
    if connection.vendor != "postgresql":
        pytest.skip("a subprocess cannot see an in-memory SQLite test database")
    db = connection.settings_dict
    env = {
        **os.environ,
        "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
    }
    return subprocess.run(
        [sys.executable, str(settings.BASE_DIR / "manage.py"), *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )


@pytest.mark.django_db
def test_create_api_key_prints_the_key_alone(alice):
    output = run("create_api_key", "alice")
    key = output.strip()
    assert output == key + "\n"
    assert LIVE_KEY.match(key)
    api_key = api_key_authenticate(plain_key=key)
    assert api_key.account == alice
    assert api_key.permissions == ["mail"]
    assert not api_key.is_test


@pytest.mark.django_db
def test_create_api_key_makes_a_test_key(alice):
    key = run("create_api_key", "alice", "--test").strip()
    assert TEST_KEY.match(key)
    assert api_key_authenticate(plain_key=key).is_test


@pytest.mark.django_db
def test_create_api_key_takes_repeated_permissions(alice, monkeypatch):
    monkeypatch.setattr(
        "accounts.management.commands.create_api_key.KNOWN_PERMISSIONS", ("mail", "stats")
    )
    key = run("create_api_key", "alice", "--permission", "stats", "--permission", "mail").strip()
    assert api_key_authenticate(plain_key=key).permissions == ["mail", "stats"]


@pytest.mark.django_db
def test_create_api_key_refuses_an_unknown_permission(alice):
    with pytest.raises(CommandError, match="root"):
        run("create_api_key", "alice", "--permission", "root")
    assert not ApiKey.objects.exists()


@pytest.mark.django_db
def test_create_api_key_refuses_an_unknown_user():
    with pytest.raises(CommandError, match="nobody"):
        run("create_api_key", "nobody")


@pytest.mark.django_db
def test_create_api_key_exits_non_zero_with_the_error_on_stderr():
    result = manage("create_api_key", "nobody")
    assert result.returncode != 0
    assert "nobody" in result.stderr
    assert result.stdout == ""


@pytest.mark.django_db
def test_create_api_key_creates_the_user_when_asked():
    key = run("create_api_key", "carol", "--create-user").strip()
    assert api_key_authenticate(plain_key=key).account.username == "carol"


@pytest.mark.django_db
def test_revoke_api_key_revokes_a_full_key_at_once(alice):
    key = api_key_for(alice)
    run("revoke_api_key", key)
    assert api_key_authenticate(plain_key=key) is None
    assert ApiKey.objects.get().revoked_at is not None


@pytest.mark.django_db
def test_revoke_api_key_accepts_the_display_prefix(alice):
    key = api_key_for(alice)
    output = run("revoke_api_key", key[:12])
    assert api_key_authenticate(plain_key=key) is None
    assert key not in output


@pytest.mark.django_db
def test_revoke_api_key_refuses_an_unknown_key():
    with pytest.raises(CommandError):
        run("revoke_api_key", "mp_live_nope")
