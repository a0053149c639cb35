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


@pytest.fixture
def noops(monkeypatch):
    """How many NOOP commands the client sent."""
    import smtplib

    sent = []
    real_noop = smtplib.SMTP.noop

    def counting_noop(self):
        sent.append(1)
        return real_noop(self)

    monkeypatch.setattr(smtplib.SMTP, "noop", counting_noop)
    return sent


@pytest.mark.django_db
def test_a_connection_used_moments_ago_is_reused_without_a_noop(
    alice_client, alice_provider, smtp_server, noops
):
    for _ in range(3):
        assert send(alice_client).status_code == 200
    assert noops == []
    assert len({message.peer for message in smtp_server.messages}) == 1


@pytest.mark.django_db
def test_a_connection_idle_for_a_while_is_asked_with_noop_first(
    alice_client, alice_provider, smtp_server, noops, monkeypatch
):
    import mail.connection_reuse as reuse

    assert send(alice_client).status_code == 200
    clock = reuse.time.monotonic() + reuse.NOOP_AFTER_IDLE_SECONDS + 1
    monkeypatch.setattr(reuse.time, "monotonic", lambda: clock)
    assert send(alice_client).status_code == 200
    assert noops == [1]
    assert len({message.peer for message in smtp_server.messages}) == 1


@pytest.mark.django_db
def test_a_kept_connection_found_dead_at_mail_from_is_replaced_and_the_message_sent_once(
    alice_client, alice_provider, smtp_server, noops, monkeypatch
):
    """The check before reuse misses a connection that died (here: told to see nothing):
    MAIL FROM fails, nothing reached the server, the message goes over a new connection."""
    import mail.connection_reuse as reuse

    assert send(alice_client).status_code == 200
    monkeypatch.setattr(reuse, "_server_spoke", lambda smtp: False)
    smtp_server.restart()  # the kept connection is now dead

    response = send(alice_client)

    assert response.status_code == 200, response.json()
    assert noops == []
    assert len(smtp_server.messages) == 2
    assert smtp_server.messages[0].peer != smtp_server.messages[1].peer
    assert len({message.message_id for message in smtp_server.messages}) == 2


@pytest.mark.django_db
def test_a_new_connection_that_fails_is_not_tried_again(
    alice_client, alice_provider, smtp_server, monkeypatch
):
    """Only a kept connection is replaced: a fresh one that fails is the send's failure."""
    from mail import delivery

    attempts = []
    real_sendmail = delivery._sendmail

    def dropped(conn, *args):
        attempts.append(1)
        conn.close()  # as if the server hung up: MAIL FROM cannot be sent
        return real_sendmail(conn, *args)

    monkeypatch.setattr(delivery, "_sendmail", dropped)

    response = send(alice_client)

    assert response.status_code == 500
    assert response.json()["error"]["code"] == "SEND_FAILED"
    assert attempts == [1]
    assert smtp_server.messages == []


@pytest.mark.django_db
def test_a_failure_after_mail_from_is_never_sent_again(alice_client, alice_provider, smtp_server):
    """A 4xx/5xx to DATA (or anything after MAIL FROM) on a kept connection is the answer:
    sending again could deliver twice."""
    assert send(alice_client).status_code == 200
    smtp_server.behaviour.data_replies.append("451 4.3.0 Try later")

    response = send(alice_client)

    assert response.status_code == 500
    assert smtp_server.rejected == 1
    assert len(smtp_server.messages) == 1
