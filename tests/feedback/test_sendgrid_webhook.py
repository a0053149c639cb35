"""SendGrid's Event Webhook (API.md section 16.1), over real HTTP, with its ECDSA signature."""

import json
import time
import uuid

import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from mail.models import MessageStatus
from suppressions.models import Suppression
from tests.factories import SmtpProviderFactory
from tests.feedback.conftest import post, sent_message
from tests.feedback.sendgrid_keys import sendgrid_public_key_b64, sendgrid_sign

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def sendgrid_provider(alice):
    provider = SmtpProviderFactory(account=alice, kind="sendgrid", name="alice sendgrid")
    provider.webhook_key = sendgrid_public_key_b64()
    provider.save()
    return provider


def sg_event(message, event: str, **fields) -> dict:
    """One event as SendGrid documents it (the X-Message-Id from its 250 reply, then a suffix)."""
    x_message_id = message.provider_message_id or "14c5d75ce93dfd64b469"
    values = {
        "email": message.to_email,
        "timestamp": int(time.time()),
        "smtp-id": message.message_id,
        "event": event,
        "category": ["order"],
        "sg_event_id": f"{event}-{uuid.uuid4().hex[:22]}",
        "sg_message_id": f"{x_message_id}.filterdrecv-p3mdw1-756b745b58-kmzbl-18-5F5FC76C-9.0",
    }
    values.update(fields)
    return values


def signed_post(url: str, events: list, *, private_key=None, timestamp=None):
    body = json.dumps(events).encode()
    timestamp = timestamp or str(int(time.time()))
    return post(
        url,
        body,
        {
            "Content-Type": "application/json",
            "X-Twilio-Email-Event-Webhook-Signature": sendgrid_sign(body, timestamp, private_key),
            "X-Twilio-Email-Event-Webhook-Timestamp": timestamp,
        },
    )


def test_each_event_kind_is_recorded_as_section_16_maps_it(feedback_url, sendgrid_provider):
    url = feedback_url(sendgrid_provider)
    delivered = sent_message(sendgrid_provider)
    bounced = sent_message(sendgrid_provider)
    blocked = sent_message(sendgrid_provider)
    dropped = sent_message(sendgrid_provider)
    deferred = sent_message(sendgrid_provider)
    complained = sent_message(sendgrid_provider, status=MessageStatus.DELIVERED)
    events = [
        sg_event(delivered, "processed"),
        sg_event(delivered, "delivered", response="250 OK"),
        sg_event(bounced, "bounce", reason="550 5.1.1 unknown user", status="5.1.1", type="bounce"),
        sg_event(blocked, "bounce", reason="550 5.7.1 blocked", status="5.7.1", type="blocked"),
        sg_event(dropped, "dropped", reason="Bounced Address", status="5.0.0"),
        sg_event(deferred, "deferred", response="450 try again later", attempt="1"),
        sg_event(complained, "spamreport"),
        sg_event(complained, "open", useragent="Mozilla/5.0"),
    ]
    response = signed_post(url, events)
    assert response.status_code == 200, response.text
    assert response.json()["data"] == {"recorded": 6, "duplicates": 0, "ignored": 0}
    expected = [
        (delivered, "delivered", MessageStatus.DELIVERED),
        (bounced, "bounced", MessageStatus.BOUNCED),
        (blocked, "bounced", MessageStatus.BOUNCED),
        (dropped, "failed", MessageStatus.FAILED),
        (deferred, "deferred", MessageStatus.SENT),
        (complained, "complained", MessageStatus.DELIVERED),
    ]
    for message, event_type, status in expected:
        message.refresh_from_db()
        assert [e.event_type for e in message.events.all()] == [event_type]
        assert message.status == status
    assert "550 5.1.1 unknown user" in bounced.events.get().detail


def test_a_hard_bounce_suppresses_and_a_block_does_not(feedback_url, sendgrid_provider):
    bounced = sent_message(sendgrid_provider, to_email="gone@example.com")
    blocked = sent_message(sendgrid_provider, to_email="blocked@example.com")
    signed_post(
        feedback_url(sendgrid_provider),
        [
            sg_event(bounced, "bounce", reason="550 5.1.1", type="bounce"),
            sg_event(blocked, "bounce", reason="550 5.7.1", type="blocked"),
        ],
    )
    emails = set(Suppression.objects.values_list("email", flat=True))
    assert emails == {"gone@example.com"}


def test_a_message_is_found_by_the_x_message_id_of_the_250_reply(feedback_url, sendgrid_provider):
    message = sent_message(sendgrid_provider, provider_message_id="FRuXdiTWQgqvqbwCgZM3aA")
    event = sg_event(message, "delivered")
    del event["smtp-id"]
    signed_post(feedback_url(sendgrid_provider), [event])
    message.refresh_from_db()
    assert message.status == MessageStatus.DELIVERED


def test_a_retried_event_is_recorded_once(feedback_url, sendgrid_provider):
    message = sent_message(sendgrid_provider)
    events = [sg_event(message, "delivered")]
    signed_post(feedback_url(sendgrid_provider), events)
    again = signed_post(feedback_url(sendgrid_provider), events)
    assert again.json()["data"] == {"recorded": 0, "duplicates": 1, "ignored": 0}
    assert message.events.count() == 1


def test_another_accounts_message_is_ignored(feedback_url, sendgrid_provider, bob):
    bobs_provider = SmtpProviderFactory(account=bob, kind="sendgrid")
    bobs = sent_message(bobs_provider, provider_message_id="BobsXMessageId0000")
    response = signed_post(feedback_url(sendgrid_provider), [sg_event(bobs, "bounce")])
    assert response.status_code == 200
    assert response.json()["data"]["ignored"] == 1
    bobs.refresh_from_db()
    assert bobs.status == MessageStatus.SENT
    assert not bobs.events.exists()


def test_without_a_key_events_are_accepted_unsigned(feedback_url, alice):
    provider = SmtpProviderFactory(account=alice, kind="sendgrid")
    message = sent_message(provider)
    response = post(feedback_url(provider), [sg_event(message, "delivered")])
    assert response.status_code == 200
    assert message.events.count() == 1


def _refused(response, message):
    assert response.status_code == 400, response.text
    assert response.json()["error"]["code"] == "VALIDATION_ERROR"
    assert not message.events.exists()


def test_unsigned_events_are_refused_when_a_key_is_set(feedback_url, sendgrid_provider):
    message = sent_message(sendgrid_provider)
    _refused(post(feedback_url(sendgrid_provider), [sg_event(message, "bounce")]), message)


def test_events_signed_by_another_key_are_refused(feedback_url, sendgrid_provider):
    message = sent_message(sendgrid_provider)
    forger = ec.generate_private_key(ec.SECP256R1())
    response = signed_post(
        feedback_url(sendgrid_provider), [sg_event(message, "bounce")], private_key=forger
    )
    _refused(response, message)


def test_a_changed_body_or_timestamp_is_refused(feedback_url, sendgrid_provider):
    message = sent_message(sendgrid_provider)
    body = json.dumps([sg_event(message, "delivered")]).encode()
    timestamp = str(int(time.time()))
    signature = sendgrid_sign(body, timestamp)
    forged = body.replace(b'"delivered"', b'"bounce"')
    for sent_body, sent_timestamp in ((forged, timestamp), (body, str(int(timestamp) + 1))):
        response = post(
            feedback_url(sendgrid_provider),
            sent_body,
            {
                "Content-Type": "application/json",
                "X-Twilio-Email-Event-Webhook-Signature": signature,
                "X-Twilio-Email-Event-Webhook-Timestamp": sent_timestamp,
            },
        )
        _refused(response, message)


@pytest.mark.parametrize(
    "events",
    [
        {"event": "delivered"},
        ["delivered"],
        [{"email": "jane@example.com"}],
        [{"event": "delivered", "email": "jane@example.com"}],
        [{"event": "bounce", "sg_event_id": "x", "email": ["a"]}],
    ],
)
def test_malformed_events_are_400(feedback_url, sendgrid_provider, events):
    message = sent_message(sendgrid_provider)
    _refused(signed_post(feedback_url(sendgrid_provider), events), message)


def test_a_body_that_is_not_json_is_400(feedback_url, alice):
    provider = SmtpProviderFactory(account=alice, kind="sendgrid")
    response = post(feedback_url(provider), b"\x00\xff{", {"Content-Type": "application/json"})
    assert response.status_code == 400
