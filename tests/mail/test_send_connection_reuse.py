"""Single sends reuse the worker thread's SMTP connection, safely."""

import pytest

from tests.factories import SmtpProviderFactory

BODY = {"to": "user@example.com", "subject": "Hello", "html": "<p>Hello World</p>"}


def send(client, **extra):
    return client.post("/api/v1/mail/send", {**BODY, **extra}, format="json")


@pytest.mark.django_db
def test_consecutive_sends_share_one_connection(alice_client, alice_provider, smtp_server):
    assert send(alice_client).status_code == 200
    assert send(alice_client).status_code == 200
    peers = {message.peer for message in smtp_server.messages}
    assert len(smtp_server.messages) == 2
    assert len(peers) == 1


@pytest.mark.django_db
def test_reuse_can_be_switched_off(alice_client, alice_provider, smtp_server, settings):
    settings.MAILPASS_SMTP_REUSE_SECONDS = 0
    assert send(alice_client).status_code == 200
    assert send(alice_client).status_code == 200
    assert len({message.peer for message in smtp_server.messages}) == 2


@pytest.mark.django_db
def test_a_connection_the_server_dropped_is_replaced_before_sending(
    alice_client, alice_provider, smtp_server
):
    assert send(alice_client).status_code == 200
    smtp_server.restart()  # the kept connection is now dead
    response = send(alice_client)
    assert response.status_code == 200, response.json()
    assert len(smtp_server.messages) == 2
    assert smtp_server.messages[0].peer != smtp_server.messages[1].peer


@pytest.mark.django_db
def test_a_connection_is_not_kept_past_its_idle_time(
    alice_client, alice_provider, smtp_server, settings, monkeypatch
):
    import mail.connection_reuse as reuse

    assert send(alice_client).status_code == 200
    clock = reuse.time.monotonic() + settings.MAILPASS_SMTP_REUSE_SECONDS + 1
    monkeypatch.setattr(reuse.time, "monotonic", lambda: clock)
    assert send(alice_client).status_code == 200
    assert len({message.peer for message in smtp_server.messages}) == 2


@pytest.mark.django_db
def test_an_edited_provider_gets_a_new_connection(alice_client, alice_provider, smtp_server):
    assert send(alice_client).status_code == 200
    alice_provider.from_name = "Renamed"
    alice_provider.save()
    assert send(alice_client).status_code == 200
    assert len({message.peer for message in smtp_server.messages}) == 2


@pytest.mark.django_db
def test_a_refused_recipient_keeps_the_connection_usable(alice_client, alice_provider, smtp_server):
    smtp_server.behaviour.rcpt_replies["gone@example.com"] = "550 5.1.1 No such user"
    assert send(alice_client, to="gone@example.com").status_code == 500
    assert send(alice_client).status_code == 200
    assert len(smtp_server.messages) == 1


@pytest.mark.django_db
def test_each_provider_has_its_own_connection(alice, bob, alice_client, smtp_server_factory):
    from tests.factories import api_key_for

    first, second = smtp_server_factory(), smtp_server_factory()
    SmtpProviderFactory(account=alice, host=first.host, port=first.port)
    SmtpProviderFactory(account=bob, host=second.host, port=second.port)
    bob_client = type(alice_client)()
    bob_client.credentials(HTTP_AUTHORIZATION=f"Bearer {api_key_for(bob)}")
    for _ in range(2):
        assert send(alice_client).status_code == 200
        assert send(bob_client).status_code == 200
    assert len(first.messages) == len(second.messages) == 2
    assert len({m.peer for m in first.messages}) == 1
    assert len({m.peer for m in second.messages}) == 1
