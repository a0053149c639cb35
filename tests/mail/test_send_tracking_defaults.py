"""Tracking defaults come from the account's settings; a request may override them."""

import pytest
from django.db import connection

from accounts.models import AccountSettings
from mail.models import Message

HTML = '<html><body><p>Hi</p><a href="https://example.com/order">order</a></body></html>'


def _sent_html(smtp_server) -> str:
    (received,) = smtp_server.messages
    return received.parsed.get_body(preferencelist=("html",)).get_content()


def _send(client, **extra):
    body = {"to": "user@example.com", "subject": "Hi", "html": HTML, **extra}
    return client.post("/api/v1/mail/send", body, format="json")


@pytest.mark.django_db
def test_an_account_without_settings_tracks_opens_and_clicks(
    alice_client, alice_provider, smtp_server
):
    assert _send(alice_client).status_code == 200
    html = _sent_html(smtp_server)
    assert "/t/o/" in html
    assert "/t/c/" in html
    assert "https://example.com/order" not in html


@pytest.mark.django_db
def test_an_account_that_turned_tracking_off_sends_the_html_untouched(
    alice, alice_client, alice_provider, smtp_server
):
    AccountSettings.objects.create(account=alice, track_opens=False, track_clicks=False)

    assert _send(alice_client).status_code == 200

    assert _sent_html(smtp_server).strip() == HTML
    message = Message.objects.get()
    assert (message.track_opens, message.track_clicks) == (False, False)


@pytest.mark.django_db
def test_a_request_overrides_the_account_setting(alice, alice_client, alice_provider, smtp_server):
    AccountSettings.objects.create(account=alice, track_opens=False, track_clicks=False)

    assert _send(alice_client, track_opens=True).status_code == 200

    html = _sent_html(smtp_server)
    assert "/t/o/" in html
    assert "https://example.com/order" in html


@pytest.mark.django_db
def test_a_batch_takes_the_account_setting_too(alice, alice_client, alice_provider):
    AccountSettings.objects.create(account=alice, track_opens=False, track_clicks=True)
    body = {"messages": [{"to": "a@example.com", "subject": "Hi", "html": HTML}]}

    assert alice_client.post("/api/v1/mail/send-batch", body, format="json").status_code == 200

    message = Message.objects.get()
    assert (message.track_opens, message.track_clicks) == (False, True)


@pytest.mark.django_db
def test_the_settings_cost_no_query_of_their_own(
    alice, alice_client, alice_provider, django_assert_max_num_queries
):
    if connection.vendor != "postgresql":
        pytest.skip("PostgreSQL's query budget: the SQLite send path takes other statements")
    AccountSettings.objects.create(account=alice, track_opens=False, track_clicks=False)
    _send(alice_client)  # warm: last_used_at is written at most once a minute
    # key (with account and settings), provider, INSERT, then UPDATE + event in a transaction
    with django_assert_max_num_queries(7):
        assert _send(alice_client).status_code == 200
