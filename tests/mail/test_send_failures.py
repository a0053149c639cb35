"""Each kind of SMTP failure answers 500 SEND_FAILED and leaves a ``failed`` row that names the
server's reply; the failed message gives its send-limit slot back."""

import pytest

from mail.models import EventType, Message, MessageStatus
from tests.factories import SmtpProviderFactory

BODY = {"to": "user@example.com", "subject": "Hello", "html": "<p>Hello World</p>"}


def send(client, body=BODY):
    return client.post("/api/v1/mail/send", body, format="json")


def assert_send_failed(response, reply_fragment):
    assert response.status_code == 500, response.json()
    error = response.json()["error"]
    assert error["code"] == "SEND_FAILED"
    message = Message.objects.get(message_id=error["details"]["message_id"])
    assert message.status == MessageStatus.FAILED
    assert reply_fragment in message.error_message
    assert reply_fragment in error["message"]
    assert message.sent_at is None
    assert message.limit_counted_at is None  # the slot is free again
    # A refusal at RCPT also records a "bounced" event per recipient (tests/suppressions).
    events = list(
        message.events.exclude(event_type=EventType.BOUNCED).values_list("event_type", "detail")
    )
    assert events == [(EventType.FAILED, message.error_message)]
    return message


@pytest.mark.django_db
def test_a_refused_recipient_is_send_failed(alice_client, alice_provider, smtp_server):
    smtp_server.behaviour.rcpt_replies["user@example.com"] = "550 5.1.1 No such user here"

    message = assert_send_failed(send(alice_client), "550 5.1.1 No such user here")
    assert smtp_server.messages == []
    bounced = message.events.filter(event_type=EventType.BOUNCED)
    assert list(bounced.values_list("recipient", "detail")) == [
        ("user@example.com", "550 5.1.1 No such user here")
    ]


@pytest.mark.django_db
def test_a_temporary_data_refusal_is_send_failed(alice_client, alice_provider, smtp_server):
    smtp_server.behaviour.data_reply_always = "451 4.3.0 Mail server temporarily rejected"

    assert_send_failed(send(alice_client), "451 4.3.0 Mail server temporarily rejected")


@pytest.mark.django_db
def test_a_permanent_data_refusal_is_send_failed(alice_client, alice_provider, smtp_server):
    smtp_server.behaviour.data_reply_always = "554 5.7.1 Message rejected as spam"

    assert_send_failed(send(alice_client), "554 5.7.1 Message rejected as spam")


@pytest.mark.django_db
def test_a_refused_connection_is_send_failed(alice_client, alice_provider, smtp_server):
    smtp_server.stop()

    message = assert_send_failed(send(alice_client), "Connection")
    assert "refused" in message.error_message.lower()


@pytest.mark.django_db
def test_a_server_slower_than_the_timeout_is_send_failed(alice_client, alice_provider, smtp_server):
    alice_provider.timeout = 0.5
    alice_provider.save()
    smtp_server.behaviour.data_delay = 2.0

    message = assert_send_failed(send(alice_client), "timed out")
    assert message.error_message


@pytest.mark.django_db
def test_a_wrong_password_after_starttls_is_send_failed(alice, alice_client, smtp_server_factory):
    server = smtp_server_factory(
        require_starttls=True, auth_users={"mailer": "right"}, auth_required=True
    )
    SmtpProviderFactory(
        account=alice,
        host=server.host,
        port=server.port,
        security="starttls",
        username="mailer",
        password="wrong",
    )

    assert_send_failed(send(alice_client), "535")
    assert server.messages == []


@pytest.mark.django_db
def test_starttls_and_auth_with_the_right_password_sends(alice, alice_client, smtp_server_factory):
    server = smtp_server_factory(
        require_starttls=True, auth_users={"mailer": "right"}, auth_required=True
    )
    SmtpProviderFactory(
        account=alice,
        host=server.host,
        port=server.port,
        security="starttls",
        username="mailer",
        password="right",
    )

    assert send(alice_client).status_code == 200
    assert server.messages[0].tls and server.messages[0].authenticated_as == "mailer"


@pytest.mark.django_db
def test_one_refused_recipient_among_accepted_ones_still_sends(
    alice_client, alice_provider, smtp_server
):
    smtp_server.behaviour.rcpt_replies["gone@example.com"] = "550 5.1.1 No such user"

    response = send(alice_client, {**BODY, "cc": ["gone@example.com"]})

    assert response.status_code == 200
    message = Message.objects.get(message_id=response.json()["data"]["message_id"])
    assert message.status == MessageStatus.SENT
    assert "gone@example.com" in message.events.get(event_type=EventType.SENT).detail
