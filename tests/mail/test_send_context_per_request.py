"""Everything a send needs to know about its caller is read once per request, in one query,
and never kept between requests: changes apply to the very next request (API.md s.1, s.8)."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from accounts.models import AccountSettings, ApiKey
from accounts.services import api_key_authenticate
from mail.models import Message
from providers.services import provider_make_default
from tests.factories import SmtpProviderFactory, api_key_for

BODY = {"to": "user@example.com", "subject": "Hello", "html": "<p>Hello World</p>"}


def send(client):
    return client.post("/api/v1/mail/send", BODY, format="json")


@pytest.mark.django_db
def test_make_default_applies_to_the_very_next_send(alice, alice_client, smtp_server_factory):
    first, second = smtp_server_factory(), smtp_server_factory()
    SmtpProviderFactory(account=alice, host=first.host, port=first.port, is_default=True)
    other = SmtpProviderFactory(account=alice, host=second.host, port=second.port, is_default=False)
    assert send(alice_client).status_code == 200

    provider_make_default(provider=other)
    assert send(alice_client).status_code == 200

    assert len(first.messages) == len(second.messages) == 1
    assert Message.objects.order_by("id").last().provider_id == other.pk


@pytest.mark.django_db
def test_a_deactivated_default_provider_stops_sending_at_the_next_request(
    alice_client, alice_provider, smtp_server
):
    assert send(alice_client).status_code == 200
    alice_provider.is_active = False
    alice_provider.save()

    response = send(alice_client)

    assert response.status_code == 422
    assert response.json()["error"]["code"] == "NO_SMTP_PROVIDER"
    assert len(smtp_server.messages) == 1


@pytest.mark.django_db
def test_changed_tracking_settings_apply_to_the_next_send(alice, alice_client, alice_provider):
    assert send(alice_client).status_code == 200
    AccountSettings.objects.create(account=alice, track_opens=False, track_clicks=False)
    assert send(alice_client).status_code == 200

    first, second = Message.objects.order_by("id")
    assert (first.track_opens, first.track_clicks) == (True, True)
    assert (second.track_opens, second.track_clicks) == (False, False)


@pytest.mark.django_db
def test_a_send_reads_the_key_and_its_context_in_one_query(alice, alice_client, alice_provider):
    if connection.vendor != "postgresql":
        pytest.skip("the statements of the PostgreSQL send path")
    send(alice_client)  # the key's first use of the minute writes last_used_at
    with CaptureQueriesContext(connection) as queries:
        assert send(alice_client).status_code == 200
    statements = [q["sql"] for q in queries.captured_queries]
    # key + account + settings + default provider; the INSERT of the row with the suppression
    # check in it; the "sent" UPDATE with its event. No BEGIN/COMMIT: nothing here needs a
    # lock.
    assert len(statements) == 3, statements
    assert "providers_smtpprovider" in statements[0] and "accounts_apikey" in statements[0]
    assert "INSERT INTO" in statements[1] and "suppressions_suppression" in statements[1]


@pytest.mark.django_db
def test_the_authenticated_key_carries_its_own_account_and_provider_only(alice, bob):
    alice_default = SmtpProviderFactory(account=alice)
    SmtpProviderFactory(account=bob)
    SmtpProviderFactory(account=alice, is_default=False)
    AccountSettings.objects.create(account=bob, track_opens=False)

    api_key = api_key_authenticate(plain_key=api_key_for(alice))

    assert api_key.account == alice
    assert api_key.default_provider == alice_default
    assert api_key.default_provider.account_id == alice.pk
    with pytest.raises(AccountSettings.DoesNotExist):
        api_key.account.mail_settings  # noqa: B018  (alice has no row; none is read)
    assert api_key.permissions == ["mail"]
    assert api_key == ApiKey.objects.get(account=alice)


@pytest.mark.django_db
def test_the_authenticated_key_reads_like_the_orm_row(alice):
    SmtpProviderFactory(account=alice, hourly_limit=10, daily_limit=100)
    AccountSettings.objects.create(account=alice, track_opens=False, track_clicks=True)
    plain = api_key_for(alice, permissions=["mail", "templates"])

    api_key = api_key_authenticate(plain_key=plain)
    stored = ApiKey.objects.select_related("account", "account__mail_settings").get()

    for field in ApiKey._meta.concrete_fields:
        assert getattr(api_key, field.attname) == getattr(stored, field.attname), field.name
    for field in alice._meta.concrete_fields:
        assert getattr(api_key.account, field.attname) == getattr(stored.account, field.attname)
    settings = api_key.account.mail_settings
    assert (settings.track_opens, settings.track_clicks) == (False, True)
    provider = api_key.default_provider
    assert (provider.hourly_limit, provider.daily_limit) == (10, 100)
    assert provider.updated_at.tzinfo is not None


@pytest.mark.django_db
def test_an_account_without_a_default_provider_authenticates_with_none(alice):
    SmtpProviderFactory(account=alice, is_default=False)

    api_key = api_key_authenticate(plain_key=api_key_for(alice))

    assert api_key is not None
    assert api_key.default_provider is None
