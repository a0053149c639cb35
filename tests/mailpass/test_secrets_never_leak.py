"""Secrets never leave: no API key or SMTP password in logs, responses, admin pages or output.

Each test drives one surface with a live key and a provider that has a password, captures every
log record (DEBUG, SQL included) and everything written to stdout/stderr, and searches all of
it, plus each response's headers and body, for the secrets in plain and in the base64 forms that
SMTP AUTH PLAIN/LOGIN put on the wire.
"""

import base64
import logging
import secrets
from io import StringIO

import pytest
from django.core.management import call_command, get_commands
from django.db import connection
from rest_framework.test import APIClient

from accounts.models import ApiKey
from accounts.services import api_key_create, api_key_revoke
from providers.models import SmtpProvider
from providers.services import provider_send_test_email, provider_test_connection
from tests.factories import SmtpProviderFactory

SMTP_USER = "mailer"
SMTP_PASSWORD = "smtp-pw-" + secrets.token_urlsafe(18)


def secret_forms(plain_key: str) -> dict[str, str]:
    """Every spelling of a secret worth searching for."""
    forms = {"api key": plain_key, "api key body": plain_key.split("_", 2)[-1]}
    forms["smtp password"] = SMTP_PASSWORD
    forms["smtp password (AUTH LOGIN)"] = base64.b64encode(SMTP_PASSWORD.encode()).decode()
    forms["smtp credentials (AUTH PLAIN)"] = base64.b64encode(
        f"\0{SMTP_USER}\0{SMTP_PASSWORD}".encode()
    ).decode()
    return forms


class Transcript:
    """Everything a test lets out: responses (status, headers, body), outputs, log records."""

    def __init__(self, caplog, capfd) -> None:
        self.caplog = caplog
        self.capfd = capfd
        self.parts: list[str] = []

    def response(self, response) -> None:
        headers = "\n".join(f"{name}: {value}" for name, value in response.items())
        self.parts.append(f"{response.status_code}\n{headers}\n{response.content.decode()}")

    def text(self, text: str) -> None:
        self.parts.append(text)

    def everything(self) -> str:
        captured = self.capfd.readouterr()
        records = "\n".join(
            f"{record.name} {record.getMessage()} {record.exc_text or ''} {record.args!r}"
            for record in self.caplog.records
        )
        return "\n".join([*self.parts, records, captured.out, captured.err])

    def assert_clean(self, forms: dict[str, str]) -> None:
        everything = self.everything()
        assert everything.strip(), "nothing was captured: the test drove nothing"
        leaked = [name for name, value in forms.items() if value in everything]
        assert not leaked, f"leaked: {leaked}"


@pytest.fixture
def transcript(caplog, capfd, settings):
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger="django.db.backends")
    settings.DEBUG = True  # even with SQL logged with its parameters
    connection.force_debug_cursor = True
    yield Transcript(caplog, capfd)
    connection.force_debug_cursor = False


@pytest.fixture
def auth_smtp_server(smtp_server_factory):
    return smtp_server_factory(
        require_starttls=True, auth_users={SMTP_USER: SMTP_PASSWORD}, auth_required=True
    )


@pytest.fixture
def protected_provider(alice, auth_smtp_server) -> SmtpProvider:
    """Alice's default provider: STARTTLS + AUTH with the password."""
    return SmtpProviderFactory(
        account=alice,
        host=auth_smtp_server.host,
        port=auth_smtp_server.port,
        security="starttls",
        username=SMTP_USER,
        password=SMTP_PASSWORD,
        timeout=3,
    )


SEND_BODY = {"to": "user@example.com", "subject": "Hello", "text": "Hi"}


def test_the_api_never_echoes_a_key_or_the_smtp_password(
    alice, alice_key, protected_provider, transcript
):
    good = APIClient()
    good.credentials(HTTP_AUTHORIZATION=f"Bearer {alice_key}")
    for response in [
        good.get("/api/v1/mail/status/abc@mailpass.im"),
        good.post("/api/v1/mail/send", SEND_BODY, format="json"),
        good.post("/api/v1/mail/send", {**SEND_BODY, "to": "not an address"}, format="json"),
        good.post("/api/v1/mail/send-batch", {"messages": [SEND_BODY]}, format="json"),
        good.post("/api/v1/mail/send", "{not json", content_type="application/json"),
        good.post("/api/v1/mail/send", "to=x", content_type="application/x-www-form-urlencoded"),
        good.delete("/api/v1/mail/send"),
        good.get("/api/v1/nowhere"),
    ]:
        transcript.response(response)
    for header in [
        f"Bearer {alice_key} extra",
        f"Token {alice_key}",
        f"Bearer {alice_key}x",
        f"Bearer {alice_key[:-1]}",
        f"bearer  {alice_key}",
        alice_key,
    ]:
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=header)
        transcript.response(client.get("/api/v1/mail/status/abc@mailpass.im"))
    api_key_revoke(api_key=ApiKey.objects.get(account=alice))
    transcript.response(good.post("/api/v1/mail/send", SEND_BODY, format="json"))
    transcript.assert_clean(secret_forms(alice_key))


def test_a_failing_smtp_login_never_reports_the_password(
    alice, alice_key, protected_provider, auth_smtp_server, transcript
):
    # The wrong password is a secret too: the admin's checks and SEND_FAILED show the reply only.
    wrong = "wrong-" + SMTP_PASSWORD
    protected_provider.password = wrong
    protected_provider.save()
    for check in [
        provider_test_connection(provider=protected_provider),
        provider_send_test_email(provider=protected_provider, to_email="user@example.com"),
    ]:
        assert not check.ok
        transcript.text(f"{check.steps} {check.error}")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {alice_key}")
    transcript.response(client.post("/api/v1/mail/send", SEND_BODY, format="json"))
    forms = secret_forms(alice_key)
    forms["wrong smtp password"] = wrong
    forms["wrong smtp password (AUTH PLAIN)"] = base64.b64encode(
        f"\0{SMTP_USER}\0{wrong}".encode()
    ).decode()
    transcript.assert_clean(forms)


def test_the_admin_pages_never_show_a_key_or_the_smtp_password(
    admin_client, alice, alice_key, protected_provider, transcript
):
    api_key = ApiKey.objects.get(account=alice)
    for path in [
        "/admin/",
        "/admin/accounts/apikey/",
        f"/admin/accounts/apikey/{api_key.pk}/change/",
        "/admin/accounts/apikey/add/",
        "/admin/providers/smtpprovider/",
        f"/admin/providers/smtpprovider/{protected_provider.pk}/change/",
        "/admin/providers/smtpprovider/add/",
        "/admin/mail/message/",
        "/admin/mail/queueitem/",
    ]:
        response = admin_client.get(path)
        assert response.status_code in (200, 302, 404), path
        transcript.response(response)
    transcript.assert_clean(secret_forms(alice_key))


def test_the_provider_admin_never_echoes_a_password_typed_into_it(
    admin_client, alice, alice_key, protected_provider, transcript
):
    typed = "typed-" + secrets.token_urlsafe(12)
    change_url = f"/admin/providers/smtpprovider/{protected_provider.pk}/change/"
    form = {
        "account": alice.pk, "name": protected_provider.name, "kind": "smtp",
        "is_active": "on", "is_default": "on", "host": protected_provider.host,
        "port": "0",  # invalid: the form comes back with errors, the typed password must not
        "security": "starttls", "username": SMTP_USER, "password": typed, "timeout": "3",
        "from_email": "support@yourdomain.com", "from_name": "", "hourly_limit": "",
        "daily_limit": "",
    }  # fmt: skip
    invalid = admin_client.post(change_url, form)
    assert invalid.status_code == 200 and b"errorlist" in invalid.content
    transcript.response(invalid)
    saved = admin_client.post(change_url, {**form, "port": str(protected_provider.port)})
    assert saved.status_code == 302, saved.content[:2000]
    transcript.response(admin_client.get(change_url))
    for action in ("test_connection", "send_test_email"):  # the typed password is wrong
        response = admin_client.post(
            "/admin/providers/smtpprovider/",
            {
                "action": action,
                "_selected_action": [protected_provider.pk],
                "apply": "1",
                "to_email": "user@example.com",
            },  # fmt: skip
            follow=True,
        )
        assert b"failed" in response.content, action
        transcript.response(response)
    forms = secret_forms(alice_key)
    forms["typed password"] = typed
    forms["typed password (AUTH PLAIN)"] = base64.b64encode(
        f"\0{SMTP_USER}\0{typed}".encode()
    ).decode()
    transcript.assert_clean(forms)


def test_the_commands_print_only_the_key_they_create_and_never_the_smtp_password(
    alice, alice_key, protected_provider, transcript, monkeypatch
):
    def run(*args: str) -> str:
        out, err = StringIO(), StringIO()
        try:
            call_command(*args, stdout=out, stderr=err)
        except Exception as exc:  # a refusal's message is output too
            err.write(str(exc))
        return out.getvalue() + err.getvalue()

    new_key_output = run("create_api_key", "carol", "--create-user")
    new_key = new_key_output.strip()
    assert new_key.startswith("mp_live_") and "\n" not in new_key  # shown once, by design
    transcript.text(run("revoke_api_key", alice_key))
    transcript.text(run("revoke_api_key", alice_key))  # already revoked: refused
    transcript.text(run("revoke_api_key", new_key[:12]))
    transcript.text(run("create_api_key", "nobody"))
    commands = get_commands()
    if "add_smtp_provider" in commands:
        monkeypatch.setenv("DRILL_SMTP_PASSWORD", SMTP_PASSWORD)
        transcript.text(
            run(
                "add_smtp_provider",
                "alice",
                "--name",
                "second",
                "--host",
                "127.0.0.1",
                "--port",
                "2525",
                "--security",
                "none",
                "--username",
                SMTP_USER,
                "--password-env",
                "DRILL_SMTP_PASSWORD",
            )  # fmt: skip
        )
    if "process_mail_queue" in commands:
        transcript.text(run("process_mail_queue"))
    forms = secret_forms(alice_key)
    forms["second api key"] = api_key_create(account=alice).plain_key  # never used: sanity
    transcript.assert_clean(forms)
