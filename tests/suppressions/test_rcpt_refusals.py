"""A 5.1.x refusal of one recipient at RCPT suppresses that recipient only (API.md s.16.3),
against the real aiosmtpd server answering per recipient."""

import pytest

from mail.models import EventType, Message, MessageEvent, MessageStatus
from suppressions.models import Suppression
from suppressions.services import message_rcpt_refusals_record, reply_is_hard_bounce
from tests.factories import MessageFactory

pytestmark = pytest.mark.django_db

NO_SUCH_USER = "550 5.1.1 <{}>: Recipient address rejected: User unknown"


def send(client, body):
    return client.post("/api/v1/mail/send", body, format="json")


def refuse(smtp_server, address, reply=None):
    smtp_server.behaviour.rcpt_replies[address] = reply or NO_SUCH_USER.format(address)


def bounced(message):
    return list(
        MessageEvent.objects.filter(message=message, event_type=EventType.BOUNCED).values_list(
            "recipient", "detail"
        )
    )


def test_a_refused_cc_is_suppressed_and_the_others_are_not(
    alice_client, alice_provider, alice, smtp_server
):
    refuse(smtp_server, "gone@example.com")
    answer = send(
        alice_client,
        {
            "to": "user@example.com",
            "cc": ["gone@example.com", "ok@example.com"],
            "subject": "Hi",
            "text": "t",
        },
    )
    assert answer.status_code == 200
    message = Message.objects.get()
    assert message.status == MessageStatus.SENT  # the to address got it
    (entry,) = Suppression.objects.all()
    assert (entry.account, entry.email, entry.reason, entry.message) == (
        alice,
        "gone@example.com",
        "hard_bounce",
        message,
    )
    assert entry.detail.startswith("550 5.1.1")
    assert bounced(message) == [("gone@example.com", entry.detail)]
    # The next send drops it.
    again = send(
        alice_client,
        {"to": "user@example.com", "cc": ["gone@example.com"], "subject": "Hi", "text": "t"},
    )
    assert again.json()["data"]["suppressed"] == ["gone@example.com"]


def test_a_refused_to_makes_the_message_bounced(alice_client, alice_provider, smtp_server):
    refuse(smtp_server, "gone@example.com")
    answer = send(
        alice_client,
        {"to": "gone@example.com", "cc": ["ok@example.com"], "subject": "Hi", "text": "t"},
    )
    assert answer.status_code == 200
    message = Message.objects.get()
    assert message.status == MessageStatus.BOUNCED
    assert list(Suppression.objects.values_list("email", flat=True)) == ["gone@example.com"]
    assert (
        send(alice_client, {"to": "gone@example.com", "subject": "Hi", "text": "t"}).status_code
        == 422
    )


def test_when_every_recipient_is_refused_each_5_1_x_one_is_suppressed(
    alice_client, alice_provider, smtp_server
):
    refuse(smtp_server, "gone@example.com")
    refuse(smtp_server, "busy@example.com", "450 4.2.1 Mailbox busy")
    refuse(smtp_server, "policy@example.com", "550 5.7.1 Relaying denied")
    answer = send(
        alice_client,
        {
            "to": "gone@example.com",
            "cc": ["busy@example.com", "policy@example.com"],
            "subject": "Hi",
            "text": "t",
        },
    )
    assert answer.status_code == 500
    assert answer.json()["error"]["code"] == "SEND_FAILED"
    message = Message.objects.get()
    assert message.status == MessageStatus.FAILED
    assert list(Suppression.objects.values_list("email", flat=True)) == ["gone@example.com"]
    assert [r for r, _ in bounced(message)] == ["gone@example.com"]


def test_other_permanent_and_temporary_refusals_suppress_nothing(
    alice_client, alice_provider, smtp_server
):
    refuse(smtp_server, "policy@example.com", "550 5.7.1 Message rejected as spam")
    refuse(smtp_server, "busy@example.com", "452 4.2.2 Mailbox full")
    answer = send(
        alice_client,
        {
            "to": "user@example.com",
            "cc": ["policy@example.com", "busy@example.com"],
            "subject": "Hi",
            "text": "t",
        },
    )
    assert answer.status_code == 200
    assert not Suppression.objects.exists()
    message = Message.objects.get()
    assert bounced(message) == []
    sent_detail = message.events.get(event_type=EventType.SENT).detail
    assert "busy@example.com" in sent_detail and "policy@example.com" in sent_detail


def test_a_message_of_a_test_key_never_adds(alice):
    message = MessageFactory(account=alice, is_test=True)
    assert (
        message_rcpt_refusals_record(message=message, refused={"a@example.com": NO_SUCH_USER}) == []
    )
    assert not Suppression.objects.exists()
    assert not MessageEvent.objects.exists()


@pytest.mark.parametrize(
    ("reply", "hard"),
    [
        ("550 5.1.1 No such user", True),
        ("550-5.1.1 The email account does not exist.\n5.1.1 https://support.example", True),
        ("553 5.1.2 Bad destination system address", True),
        ("550 5.1.10 Null MX", True),
        ("550 5.7.1 Relaying denied", False),
        ("550 No such user", False),
        ("450 4.1.1 Try later", False),
        ("550 5.11.1 odd", False),
        ("", False),
    ],
)
def test_only_permanent_5_1_x_replies_are_hard_bounces(reply, hard):
    assert reply_is_hard_bounce(reply) is hard
