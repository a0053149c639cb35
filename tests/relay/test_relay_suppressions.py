"""The suppression list at the relay (API.md s.15 and 18): a suppressed ``to`` is refused
after DATA with 550 5.1.1; suppressed cc/bcc are dropped and the rest is queued."""

import smtplib

import pytest

from mail.models import Message
from suppressions.services import suppression_add
from tests.relay.conftest import simple_message

pytestmark = pytest.mark.django_db(transaction=True)


def _suppress(account, email: str) -> None:
    suppression_add(account=account, email=email, reason="manual")


def test_a_suppressed_to_is_550_5_1_1_after_data_and_nothing_is_queued(
    smtp_client, alice, alice_key, alice_provider
):
    _suppress(alice, "Gone@Example.com")
    client = smtp_client(alice_key)
    with pytest.raises(smtplib.SMTPDataError) as refused:
        client.sendmail(
            "support@yourdomain.com", ["gone@example.com"], simple_message(to="gone@example.com")
        )
    assert refused.value.smtp_code == 550
    assert refused.value.smtp_error.startswith(b"5.1.1 to: gone@example.com is on the suppression")
    assert not Message.objects.filter(account=alice).exists()


def test_suppressed_cc_and_bcc_are_dropped_and_the_rest_is_queued(
    smtp_client, alice, alice_key, alice_provider, smtp_server
):
    _suppress(alice, "cc-gone@example.com")
    _suppress(alice, "bcc-gone@example.com")
    client = smtp_client(alice_key)
    raw = simple_message(extra="Cc: cc-gone@example.com, cc-ok@example.com\r\n")
    client.sendmail(
        "support@yourdomain.com",
        ["user@example.com", "cc-gone@example.com", "cc-ok@example.com", "bcc-gone@example.com"],
        raw,
    )
    message = Message.objects.get(account=alice)
    assert message.cc == ["cc-ok@example.com"] and message.bcc == []
    assert sorted(message.suppressed) == ["bcc-gone@example.com", "cc-gone@example.com"]
    (received,) = smtp_server.by_message_id(message.message_id)
    assert sorted(received.rcpt_tos) == ["cc-ok@example.com", "user@example.com"]


def test_bobs_suppression_list_does_not_touch_alices_mail(
    smtp_client, alice, bob, alice_key, alice_provider
):
    _suppress(bob, "user@example.com")
    client = smtp_client(alice_key)
    client.sendmail("support@yourdomain.com", ["user@example.com"], simple_message())
    assert Message.objects.filter(account=alice).count() == 1
