import pytest
from django.contrib.messages import get_messages

from providers.models import SmtpProvider
from tests.factories import SmtpProviderFactory

LIST_URL = "/admin/providers/smtpprovider/"
ADD_URL = f"{LIST_URL}add/"
PASSWORD = "Very-Secret-SMTP-pw"


def form_data(account, **overrides) -> dict:
    data = {
        "account": account.pk,
        "name": "Relay",
        "kind": "smtp",
        "host": "smtp.example.com",
        "port": "587",
        "security": "starttls",
        "username": "u1",
        "password": "",
        "from_email": "support@example.com",
        "from_name": "Support",
        "hourly_limit": "",
        "daily_limit": "",
        "timeout": "10",
        "is_active": "on",
    }
    data.update(overrides)
    return {key: value for key, value in data.items() if value is not None}


def messages_of(response) -> list[str]:
    return [str(message) for message in get_messages(response.wsgi_request)]


def action(client, name: str, *providers, **extra):
    data = {"action": name, "_selected_action": [p.pk for p in providers], **extra}
    return client.post(LIST_URL, data, follow=True)


@pytest.mark.django_db
def test_a_staff_user_adds_a_provider_with_an_encrypted_password(superuser_client, alice):
    response = superuser_client.post(ADD_URL, form_data(alice, password=PASSWORD), follow=True)
    assert response.status_code == 200
    provider = SmtpProvider.objects.get()
    assert provider.password == PASSWORD
    assert PASSWORD not in provider.password_encrypted
    assert PASSWORD not in response.content.decode()


@pytest.mark.django_db
def test_the_password_never_appears_on_an_admin_page(superuser_client, alice):
    provider = SmtpProviderFactory(account=alice, password=PASSWORD)
    pages = [
        superuser_client.get(LIST_URL),
        superuser_client.get(f"{LIST_URL}{provider.pk}/change/"),
        superuser_client.get(f"{LIST_URL}{provider.pk}/history/"),
    ]
    for page in pages:
        assert page.status_code == 200
        html = page.content.decode()
        assert PASSWORD not in html
        assert provider.password_encrypted not in html
    assert 'type="password"' in pages[1].content.decode()


@pytest.mark.django_db
def test_a_blank_password_keeps_the_stored_one(superuser_client, alice):
    provider = SmtpProviderFactory(account=alice, password=PASSWORD)
    url = f"{LIST_URL}{provider.pk}/change/"
    superuser_client.post(url, form_data(alice, name="Renamed", is_default="on"))
    provider.refresh_from_db()
    assert provider.name == "Renamed"
    assert provider.password == PASSWORD


@pytest.mark.django_db
def test_a_new_password_replaces_and_clear_removes_it(superuser_client, alice):
    provider = SmtpProviderFactory(account=alice, password=PASSWORD)
    url = f"{LIST_URL}{provider.pk}/change/"
    superuser_client.post(url, form_data(alice, password="another-one"))
    provider.refresh_from_db()
    assert provider.password == "another-one"
    superuser_client.post(url, form_data(alice, clear_password="on"))
    provider.refresh_from_db()
    assert provider.password_encrypted == ""


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("kind", "host"),
    [
        ("sendgrid", "smtp.sendgrid.net"),
        ("mailgun", "smtp.mailgun.org"),
        ("ses", "email-smtp.us-east-1.amazonaws.com"),
        ("mailpass", "smtp.mailpass.im"),
    ],
)
def test_a_known_kind_prefills_host_port_and_security(superuser_client, alice, kind, host):
    data = form_data(alice, kind=kind, host="", port="25", security="none")
    response = superuser_client.post(ADD_URL, data)
    assert response.status_code == 302, response.content.decode()[:2000]
    provider = SmtpProvider.objects.get()
    assert (provider.host, provider.port, provider.security) == (host, 587, "starttls")


@pytest.mark.django_db
def test_a_given_host_is_kept_for_a_known_kind(superuser_client, alice):
    data = form_data(alice, kind="ses", host="email-smtp.eu-west-1.amazonaws.com")
    superuser_client.post(ADD_URL, data)
    assert SmtpProvider.objects.get().host == "email-smtp.eu-west-1.amazonaws.com"


@pytest.mark.django_db
def test_a_plain_smtp_kind_needs_a_host(superuser_client, alice):
    response = superuser_client.post(ADD_URL, form_data(alice, host=""))
    assert response.status_code == 200
    assert not SmtpProvider.objects.exists()


@pytest.mark.django_db
def test_the_add_page_carries_the_presets_for_the_kind_script(superuser_client):
    html = superuser_client.get(ADD_URL).content.decode()
    assert "data-presets" in html
    assert "smtp.sendgrid.net" in html
    assert "providers/provider_presets.js" in html


@pytest.mark.django_db
def test_ticking_default_moves_it_from_the_former_default(superuser_client, alice):
    former = SmtpProviderFactory(account=alice, is_default=True)
    superuser_client.post(ADD_URL, form_data(alice, is_default="on"))
    new = SmtpProvider.objects.exclude(pk=former.pk).get()
    former.refresh_from_db()
    assert new.is_default and not former.is_default


@pytest.mark.django_db
def test_make_default_moves_the_flag(superuser_client, alice, bob):
    former = SmtpProviderFactory(account=alice, is_default=True)
    chosen = SmtpProviderFactory(account=alice, is_default=False)
    bobs = SmtpProviderFactory(account=bob, is_default=True)
    response = action(superuser_client, "make_default", chosen)
    assert any("is now the default" in m for m in messages_of(response))
    for provider in (former, chosen, bobs):
        provider.refresh_from_db()
    assert chosen.is_default and not former.is_default and bobs.is_default


@pytest.mark.django_db
def test_make_default_wants_exactly_one_provider(superuser_client, alice):
    first = SmtpProviderFactory(account=alice, is_default=True)
    second = SmtpProviderFactory(account=alice, is_default=False)
    response = action(superuser_client, "make_default", first, second)
    assert "Select exactly one provider." in messages_of(response)
    second.refresh_from_db()
    assert not second.is_default


@pytest.fixture
def tls_auth_server(smtp_server_factory):
    return smtp_server_factory(
        require_starttls=True, auth_users={"u1": PASSWORD}, auth_required=True
    )


@pytest.fixture
def tls_auth_provider(alice, tls_auth_server):
    return SmtpProviderFactory(
        account=alice,
        host=tls_auth_server.host,
        port=tls_auth_server.port,
        security="starttls",
        username="u1",
        password=PASSWORD,
        from_email="support@example.com",
    )


@pytest.mark.django_db
def test_test_connection_shows_each_step_and_the_server_answers(
    superuser_client, tls_auth_provider
):
    response = action(superuser_client, "test_connection", tls_auth_provider)
    shown = "\n".join(messages_of(response))
    assert "220" in shown  # greeting
    assert "STARTTLS: 220" in shown
    assert "AUTH as u1: 235" in shown
    assert "QUIT: 221" in shown
    assert "connection works" in shown
    assert PASSWORD not in response.content.decode()


@pytest.mark.django_db
def test_test_connection_shows_the_error_of_a_wrong_password(superuser_client, tls_auth_provider):
    tls_auth_provider.password = "wrong"
    tls_auth_provider.save()
    response = action(superuser_client, "test_connection", tls_auth_provider)
    shown = "\n".join(messages_of(response))
    assert "AUTH as u1 failed: 535" in shown
    assert "connection failed: 535" in shown


@pytest.mark.django_db
def test_test_connection_shows_a_refused_connection(superuser_client, alice):
    from tests.smtp_server import free_port

    provider = SmtpProviderFactory(account=alice, port=free_port())
    response = action(superuser_client, "test_connection", provider)
    assert any("connection failed" in m for m in messages_of(response))


@pytest.mark.django_db
def test_send_test_email_asks_for_the_recipient_then_sends(
    superuser_client, superuser, tls_auth_provider, tls_auth_server
):
    page = action(superuser_client, "send_test_email", tls_auth_provider)
    html = page.content.decode()
    assert page.status_code == 200
    assert f'value="{superuser.email}"' in html
    assert not tls_auth_server.messages

    response = action(
        superuser_client,
        "send_test_email",
        tls_auth_provider,
        apply="Send",
        to_email="someone@example.org",
    )
    assert any("test email sent to someone@example.org" in m for m in messages_of(response))
    [received] = tls_auth_server.messages
    assert received.rcpt_tos == ["someone@example.org"]
    assert received.mail_from == "support@example.com"
    assert received.authenticated_as == "u1"
    assert received.tls
    assert "MailPass test email" in received.parsed["Subject"]


@pytest.mark.django_db
def test_send_test_email_shows_the_server_refusal(
    superuser_client, tls_auth_provider, tls_auth_server
):
    tls_auth_server.behaviour.data_reply_always = "554 5.7.1 Rejected for testing"
    response = action(
        superuser_client, "send_test_email", tls_auth_provider, apply="Send", to_email="a@b.org"
    )
    assert any("554" in m and "Rejected for testing" in m for m in messages_of(response))


@pytest.mark.django_db
def test_a_password_unreadable_after_a_key_change_is_reported_not_a_crash(
    superuser_client, tls_auth_provider, settings
):
    from cryptography.fernet import Fernet

    settings.MAILPASS_ENCRYPTION_KEY = Fernet.generate_key().decode()
    response = action(superuser_client, "test_connection", tls_auth_provider)
    assert response.status_code == 200
    assert any("MAILPASS_ENCRYPTION_KEY" in m for m in messages_of(response))
    response = action(
        superuser_client, "send_test_email", tls_auth_provider, apply="Send", to_email="a@b.org"
    )
    assert any("MAILPASS_ENCRYPTION_KEY" in m for m in messages_of(response))


@pytest.mark.django_db
def test_test_connection_says_when_auth_is_skipped(superuser_client, alice, smtp_server):
    provider = SmtpProviderFactory(
        account=alice, host=smtp_server.host, port=smtp_server.port, username="u1"
    )
    response = action(superuser_client, "test_connection", provider)
    assert any("AUTH skipped" in m for m in messages_of(response))
