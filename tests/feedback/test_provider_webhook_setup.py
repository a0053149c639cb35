"""Setting up event URLs: the token, the URL in the admin and on the command line, the
verification key stored encrypted (API.md sections 16.1 and 20)."""

from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.db import connection

from providers.models import SmtpProvider
from tests.factories import SmtpProviderFactory
from tests.feedback.sendgrid_keys import sendgrid_public_key_b64
from tests.providers.test_provider_admin import ADD_URL, LIST_URL, form_data

pytestmark = pytest.mark.django_db


def run(name: str, *args: str) -> str:
    out = StringIO()
    call_command(name, *args, stdout=out)
    return out.getvalue()


def test_every_provider_gets_its_own_random_token(alice):
    first = SmtpProviderFactory(account=alice)
    second = SmtpProviderFactory(account=alice, is_default=False)
    assert len(first.webhook_token) >= 32
    assert first.webhook_token != second.webhook_token


def test_the_command_prints_the_event_url_alone(alice, settings):
    settings.MAILPASS_PUBLIC_URL = "https://mail.example.com"
    provider = SmtpProviderFactory(account=alice, kind="mailgun")
    assert run("provider_webhook_url", str(provider.pk)) == (
        f"https://mail.example.com/feedback/{provider.webhook_token}\n"
    )


def test_the_command_refuses_a_plain_smtp_provider_and_an_unknown_id(alice):
    provider = SmtpProviderFactory(account=alice, kind="smtp")
    with pytest.raises(CommandError, match="only ses, sendgrid and mailgun"):
        run("provider_webhook_url", str(provider.pk))
    with pytest.raises(CommandError, match="no provider"):
        run("provider_webhook_url", "999999")


def test_add_smtp_provider_reads_the_webhook_key_from_the_environment(alice, monkeypatch):
    monkeypatch.setenv("MAILGUN_SIGNING_KEY", "key-3ax6xnjp29jd6fds4gc373sgvjxteol0")
    provider_id = run(
        "add_smtp_provider",
        "alice",
        *("--name", "mg", "--kind", "mailgun", "--host", "smtp.mailgun.org", "--port", "587"),
        *("--webhook-key-env", "MAILGUN_SIGNING_KEY"),
    )
    provider = SmtpProvider.objects.get(pk=int(provider_id))
    assert provider.webhook_key == "key-3ax6xnjp29jd6fds4gc373sgvjxteol0"
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT webhook_key_encrypted FROM providers_smtpprovider WHERE id = %s", [provider.pk]
        )
        (stored,) = cursor.fetchone()
    assert "3ax6xnjp29" not in stored


def test_add_smtp_provider_refuses_a_sendgrid_key_that_is_not_one(alice, monkeypatch):
    monkeypatch.setenv("SG_KEY", "not a key")
    with pytest.raises(CommandError, match="webhook_key"):
        run(
            "add_smtp_provider",
            "alice",
            *("--name", "sg", "--kind", "sendgrid", "--host", "smtp.sendgrid.net", "--port", "587"),
            *("--webhook-key-env", "SG_KEY"),
        )
    assert not SmtpProvider.objects.exists()


def test_add_smtp_provider_refuses_an_unset_key_variable(alice):
    with pytest.raises(CommandError, match="NOT_SET_ANYWHERE"):
        run(
            "add_smtp_provider",
            "alice",
            *("--name", "sg", "--kind", "sendgrid", "--host", "h", "--port", "587"),
            *("--webhook-key-env", "NOT_SET_ANYWHERE"),
        )


def test_the_admin_shows_the_url_with_where_to_paste_it(superuser_client, alice, settings):
    settings.MAILPASS_PUBLIC_URL = "https://mail.example.com"
    provider = SmtpProviderFactory(account=alice, kind="sendgrid")
    page = superuser_client.get(f"{LIST_URL}{provider.pk}/change/").content.decode()
    assert f"https://mail.example.com/feedback/{provider.webhook_token}" in page
    assert "Paste this into SendGrid" in page


def test_the_admin_stores_a_sendgrid_key_encrypted_and_never_shows_it(superuser_client, alice):
    key = sendgrid_public_key_b64()
    data = form_data(alice, kind="sendgrid", host="smtp.sendgrid.net", webhook_key=key)
    response = superuser_client.post(ADD_URL, data)
    assert response.status_code == 302, response.content.decode()[:2000]
    provider = SmtpProvider.objects.get()
    assert provider.webhook_key == key
    page = superuser_client.get(f"{LIST_URL}{provider.pk}/change/").content.decode()
    assert key not in page
    assert provider.webhook_key_encrypted not in page


def test_the_admin_refuses_a_bad_sendgrid_key(superuser_client, alice):
    data = form_data(alice, kind="sendgrid", host="smtp.sendgrid.net", webhook_key="abc")
    response = superuser_client.post(ADD_URL, data)
    assert response.status_code == 200
    assert "base64 public key" in response.content.decode()
    assert not SmtpProvider.objects.exists()
