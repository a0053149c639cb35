from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from providers.models import SmtpProvider
from tests.factories import SmtpProviderFactory


def run(*args: str) -> str:
    out = StringIO()
    call_command("add_smtp_provider", *args, stdout=out)
    return out.getvalue()


@pytest.mark.django_db
def test_it_prints_the_new_provider_id_alone(alice, monkeypatch):
    monkeypatch.setenv("SMTP_PASSWORD", "pw-from-env")
    output = run(
        "alice",
        *("--name", "Postmark", "--host", "smtp.example.com", "--port", "2525"),
        *("--security", "ssl", "--username", "u1", "--password-env", "SMTP_PASSWORD"),
        *("--from-email", "support@example.com", "--from-name", "Support"),
        *("--hourly-limit", "100", "--daily-limit", "1000"),
    )
    provider = SmtpProvider.objects.get()
    assert output == f"{provider.pk}\n"
    assert (provider.account, provider.name, provider.host, provider.port) == (
        alice,
        "Postmark",
        "smtp.example.com",
        2525,
    )
    assert (provider.security, provider.username, provider.password) == ("ssl", "u1", "pw-from-env")
    assert "pw-from-env" not in provider.password_encrypted
    assert (provider.from_email, provider.from_name) == ("support@example.com", "Support")
    assert (provider.hourly_limit, provider.daily_limit) == (100, 1000)
    assert not provider.is_default


@pytest.mark.django_db
def test_default_moves_the_flag_from_the_former_default(alice, bob):
    former = SmtpProviderFactory(account=alice, is_default=True)
    bobs = SmtpProviderFactory(account=bob, is_default=True)
    new_id = int(run("alice", "--name", "new", "--host", "h.example", "--port", "587", "--default"))
    former.refresh_from_db()
    bobs.refresh_from_db()
    assert SmtpProvider.objects.get(pk=new_id).is_default
    assert not former.is_default
    assert bobs.is_default


@pytest.mark.django_db
def test_it_refuses_an_unknown_user():
    with pytest.raises(CommandError, match="nobody"):
        run("nobody", "--name", "x", "--host", "h", "--port", "25")
    assert not SmtpProvider.objects.exists()


@pytest.mark.django_db
def test_it_refuses_a_missing_password_variable(alice, monkeypatch):
    monkeypatch.delenv("NOT_SET_ANYWHERE", raising=False)
    with pytest.raises(CommandError, match="NOT_SET_ANYWHERE"):
        run(
            "alice",
            "--name",
            "x",
            "--host",
            "h",
            "--port",
            "25",
            "--password-env",
            "NOT_SET_ANYWHERE",
        )


@pytest.mark.django_db
def test_it_refuses_an_invalid_port(alice):
    with pytest.raises(CommandError, match="port"):
        run("alice", "--name", "x", "--host", "h", "--port", "70000")
    assert not SmtpProvider.objects.exists()
