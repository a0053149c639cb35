"""The bounce mailbox (API.md section 16.2): VERP envelope senders, and DSNs of the usual shapes
sent over real SMTP to the running bounce server."""

import smtplib

import pytest

from feedback.bounce_server import bounce_controller
from feedback.verp import verp_message_pk, verp_sender, verp_token
from mail.models import Message, MessageStatus
from tests.factories import MessageFactory
from tests.feedback import dsn_samples
from tests.smtp_server import free_port

pytestmark = pytest.mark.django_db(transaction=True)

DOMAIN = "bounces.mailpass.test"


@pytest.fixture
def bounce_server(settings):
    settings.MAILPASS_BOUNCE_DOMAIN = DOMAIN
    controller = bounce_controller(host="127.0.0.1", port=free_port())
    controller.start()
    yield controller
    controller.stop()


def deliver(server, rcpt: str, raw: bytes) -> dict:
    with smtplib.SMTP(server.hostname, server.port, timeout=10) as client:
        return client.sendmail("", [rcpt], raw)


@pytest.fixture
def message(alice):
    return MessageFactory(
        account=alice, to_email="jane@example.com", cc=["cc@example.net"], status="sent"
    )


@pytest.mark.parametrize(
    ("shape", "event_type", "status", "detail"),
    [
        (dsn_samples.postfix, "bounced", MessageStatus.BOUNCED, "5.1.1 smtp; 550 5.1.1"),
        (dsn_samples.exim_failed, "bounced", MessageStatus.BOUNCED, "5.0.0 smtp; 550 5.1.1"),
        (dsn_samples.exim_delayed, "deferred", MessageStatus.SENT, "4.2.2 smtp; 452 4.2.2"),
        (dsn_samples.exchange, "bounced", MessageStatus.BOUNCED, "5.1.10 smtp;550 5.1.10"),
        (dsn_samples.gmail, "bounced", MessageStatus.BOUNCED, "5.1.1 smtp; 550-5.1.1"),
    ],
)
def test_each_dsn_shape_is_recorded_for_the_right_message_and_recipient(
    bounce_server, message, shape, event_type, status, detail
):
    address = verp_sender(message.pk)
    deliver(
        bounce_server, address, shape(message, address, recipient="jane@example.com", dsn_id="d1")
    )
    message.refresh_from_db()
    assert message.status == status
    (event,) = message.events.all()
    assert (event.event_type, event.recipient) == (event_type, "jane@example.com")
    assert event.detail.startswith(detail)


def test_a_bounce_of_a_cc_recipient_keeps_the_status(bounce_server, message):
    address = verp_sender(message.pk)
    deliver(
        bounce_server,
        address,
        dsn_samples.exchange(message, address, recipient="cc@example.net", dsn_id="x"),
    )
    message.refresh_from_db()
    assert message.status == MessageStatus.SENT
    assert message.events.get().recipient == "cc@example.net"


def test_the_same_dsn_twice_is_recorded_once(bounce_server, message):
    address = verp_sender(message.pk)
    raw = dsn_samples.postfix(message, address, recipient="jane@example.com", dsn_id="same")
    deliver(bounce_server, address, raw)
    deliver(bounce_server, address, raw)
    assert message.events.count() == 1


def test_a_forged_token_is_accepted_and_ignored(bounce_server, message, alice):
    other = MessageFactory(account=alice, to_email="jane@example.com", status="sent")
    genuine = verp_token(message.pk)
    forged = f"bounces+{genuine.split('-')[0]}-{'0' * 16}@{DOMAIN}"
    retargeted = f"bounces+{verp_token(other.pk).split('-')[0]}-{genuine.split('-')[1]}@{DOMAIN}"
    for rcpt in (forged, retargeted, f"bounces+nonsense@{DOMAIN}", f"postmaster@{DOMAIN}"):
        raw = dsn_samples.postfix(message, rcpt, recipient="jane@example.com", dsn_id=rcpt)
        assert deliver(bounce_server, rcpt, raw) == {}
    assert not message.events.exists()
    assert not other.events.exists()


def test_a_token_of_a_deleted_message_is_ignored(bounce_server, message):
    address = verp_sender(message.pk)
    Message.objects.filter(pk=message.pk).delete()
    deliver(
        bounce_server,
        address,
        dsn_samples.gmail(message, address, recipient="jane@example.com", dsn_id="g"),
    )


def test_a_dsn_about_an_address_the_message_never_went_to_is_ignored(bounce_server, message):
    address = verp_sender(message.pk)
    deliver(
        bounce_server,
        address,
        dsn_samples.postfix(message, address, recipient="ceo@bank.example", dsn_id="p"),
    )
    assert not message.events.exists()


def test_mail_for_another_domain_is_refused_with_550(bounce_server, message):
    with smtplib.SMTP(bounce_server.hostname, bounce_server.port, timeout=10) as client:
        with pytest.raises(smtplib.SMTPRecipientsRefused) as refused:
            client.sendmail("", ["someone@example.com"], b"Subject: hi\r\n\r\nhello\r\n")
    ((code, _),) = refused.value.recipients.values()
    assert code == 550


def test_a_message_that_is_not_a_bounce_records_nothing(bounce_server, message):
    address = verp_sender(message.pk)
    deliver(bounce_server, address, b"From: a@example.com\r\nSubject: Re: hello\r\n\r\nThanks!\r\n")
    assert not message.events.exists()


def test_the_token_names_the_message_and_resists_tampering(settings):
    settings.MAILPASS_BOUNCE_DOMAIN = DOMAIN
    address = verp_sender(123456)
    local = address.split("@")[0]
    assert len(local) < 64
    assert verp_message_pk(local) == 123456
    assert verp_message_pk(local.upper()) == 123456
    assert verp_message_pk(local[:-1] + ("0" if local[-1] != "0" else "1")) is None
    settings.SECRET_KEY = "another-secret-key-that-is-long-enough-for-django"
    assert verp_message_pk(local) is None


def test_without_a_bounce_domain_the_sender_is_unchanged(
    settings, alice_client, alice_provider, smtp_server
):
    settings.MAILPASS_BOUNCE_DOMAIN = ""
    alice_client.post(
        "/api/v1/mail/send", {"to": "jane@example.com", "subject": "Hi", "text": "x"}, format="json"
    )
    assert smtp_server.messages[0].mail_from == "support@yourdomain.com"


def test_with_a_bounce_domain_the_envelope_sender_is_the_verp_address(
    settings, alice_client, alice_provider, smtp_server
):
    settings.MAILPASS_BOUNCE_DOMAIN = DOMAIN
    response = alice_client.post(
        "/api/v1/mail/send", {"to": "jane@example.com", "subject": "Hi", "text": "x"}, format="json"
    )
    assert response.status_code == 200, response.json()
    message = Message.objects.get()
    received = smtp_server.messages[0]
    assert received.mail_from == verp_sender(message.pk)
    assert received.parsed["From"].addresses[0].addr_spec == "support@yourdomain.com"


def test_a_hard_bounce_suppresses_that_recipient_and_a_delay_does_not(bounce_server, message):
    from suppressions.models import Suppression

    address = verp_sender(message.pk)
    deliver(
        bounce_server,
        address,
        dsn_samples.exchange(message, address, recipient="cc@example.net", dsn_id="hard"),
    )
    deliver(
        bounce_server,
        address,
        dsn_samples.exim_delayed(message, address, recipient="jane@example.com", dsn_id="soft"),
    )
    assert list(Suppression.objects.values_list("email", "reason")) == [
        ("cc@example.net", "hard_bounce")
    ]
