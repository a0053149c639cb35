"""Mailgun webhooks (API.md section 16.1), over real HTTP, with the HMAC signing key and
replay protection (signature age, token reuse)."""

import hashlib
import hmac
import secrets
import time
import uuid

import pytest

from mail.models import MessageStatus
from tests.factories import SmtpProviderFactory
from tests.feedback.conftest import post, sent_message

pytestmark = pytest.mark.django_db(transaction=True)

SIGNING_KEY = "key-3ax6xnjp29jd6fds4gc373sgvjxteol0"


@pytest.fixture
def mailgun_provider(alice):
    provider = SmtpProviderFactory(account=alice, kind="mailgun", name="alice mailgun")
    provider.webhook_key = SIGNING_KEY
    provider.save()
    return provider


def signature(*, key=SIGNING_KEY, timestamp=None, token=None) -> dict:
    timestamp = str(int(timestamp if timestamp is not None else time.time()))
    token = token or secrets.token_hex(25)
    digest = hmac.new(key.encode(), f"{timestamp}{token}".encode(), hashlib.sha256).hexdigest()
    return {"timestamp": timestamp, "token": token, "signature": digest}


def mg_event(message, event: str, severity: str | None = None, **sig) -> dict:
    """A webhook body as Mailgun documents it (its message-id header without brackets)."""
    data = {
        "event": event,
        "id": uuid.uuid4().hex[:22],
        "timestamp": time.time(),
        "log-level": "error" if event == "failed" else "info",
        "envelope": {
            "sender": message.from_email,
            "transport": "smtp",
            "targets": message.to_email,
        },
        "message": {
            "headers": {
                "to": message.to_email,
                "message-id": message.message_id.strip("<>"),
                "from": message.from_email,
                "subject": message.subject,
            },
            "attachments": [],
            "size": 1024,
        },
        "recipient": message.to_email,
        "recipient-domain": message.to_email.split("@")[1],
        "campaigns": [],
        "tags": ["order"],
        "user-variables": {},
    }
    if severity:
        data["severity"] = severity
        data["reason"] = "bounce" if severity == "permanent" else "generic"
        data["delivery-status"] = {
            "attempt-no": 1,
            "code": 550 if severity == "permanent" else 452,
            "message": "5.1.1 The email account that you tried to reach does not exist"
            if severity == "permanent"
            else "4.2.2 Mailbox full",
            "description": "",
            "session-seconds": 0.1,
        }
    return {"signature": signature(**sig), "event-data": data}


@pytest.mark.parametrize(
    ("event", "severity", "recorded", "status"),
    [
        ("delivered", None, "delivered", MessageStatus.DELIVERED),
        ("failed", "permanent", "bounced", MessageStatus.BOUNCED),
        ("failed", "temporary", "deferred", MessageStatus.SENT),
        ("complained", None, "complained", MessageStatus.SENT),
    ],
)
def test_each_event_is_recorded_as_section_16_maps_it(
    feedback_url, mailgun_provider, event, severity, recorded, status
):
    message = sent_message(mailgun_provider)
    response = post(feedback_url(mailgun_provider), mg_event(message, event, severity))
    assert response.status_code == 200, response.text
    message.refresh_from_db()
    assert message.status == status
    assert [e.event_type for e in message.events.all()] == [recorded]


def test_a_permanent_failure_keeps_the_servers_answer(feedback_url, mailgun_provider):
    message = sent_message(mailgun_provider)
    post(feedback_url(mailgun_provider), mg_event(message, "failed", "permanent"))
    assert "550" in message.events.get().detail
    assert "does not exist" in message.events.get().detail


def test_the_same_event_id_with_a_new_signature_is_recorded_once(feedback_url, mailgun_provider):
    message = sent_message(mailgun_provider)
    body = mg_event(message, "delivered")
    post(feedback_url(mailgun_provider), body)
    body["signature"] = signature()  # Mailgun's retry, signed again
    again = post(feedback_url(mailgun_provider), body)
    assert again.json()["data"] == {"recorded": 0, "duplicates": 1, "ignored": 0}
    assert message.events.count() == 1


def test_a_replayed_token_is_refused(feedback_url, mailgun_provider):
    message = sent_message(mailgun_provider)
    body = mg_event(message, "delivered")
    assert post(feedback_url(mailgun_provider), body).status_code == 200
    body["event-data"]["id"] = "another-id"
    body["event-data"]["event"] = "failed"
    body["event-data"]["severity"] = "permanent"
    replay = post(feedback_url(mailgun_provider), body)
    assert replay.status_code == 400
    assert "replayed" in replay.json()["error"]["message"]
    assert message.events.count() == 1


def test_an_old_signature_is_refused(feedback_url, mailgun_provider):
    message = sent_message(mailgun_provider)
    body = mg_event(message, "failed", "permanent", timestamp=time.time() - 3600)
    response = post(feedback_url(mailgun_provider), body)
    assert response.status_code == 400
    assert not message.events.exists()


def test_a_wrong_signature_or_key_is_refused(feedback_url, mailgun_provider):
    message = sent_message(mailgun_provider)
    forged = mg_event(message, "failed", "permanent", key="key-of-someone-else")
    assert post(feedback_url(mailgun_provider), forged).status_code == 400
    tampered = mg_event(message, "delivered")
    tampered["signature"]["timestamp"] = str(int(tampered["signature"]["timestamp"]) + 1)
    assert post(feedback_url(mailgun_provider), tampered).status_code == 400
    unsigned = mg_event(message, "delivered")
    del unsigned["signature"]
    assert post(feedback_url(mailgun_provider), unsigned).status_code == 400
    assert not message.events.exists()


def test_without_a_signing_key_events_are_refused(feedback_url, alice):
    provider = SmtpProviderFactory(account=alice, kind="mailgun")
    message = sent_message(provider)
    response = post(feedback_url(provider), mg_event(message, "delivered"))
    assert response.status_code == 400
    assert response.json()["error"]["details"] == {
        "signature": ["The provider has no Mailgun webhook signing key: events cannot be verified."]
    }
    assert not message.events.exists()


def test_another_accounts_message_is_ignored(feedback_url, mailgun_provider, bob):
    bobs = sent_message(SmtpProviderFactory(account=bob, kind="mailgun"))
    response = post(feedback_url(mailgun_provider), mg_event(bobs, "failed", "permanent"))
    assert response.status_code == 200
    assert response.json()["data"]["ignored"] == 1
    bobs.refresh_from_db()
    assert bobs.status == MessageStatus.SENT
    assert not bobs.events.exists()


@pytest.mark.parametrize(
    "mangle",
    [
        lambda body: body.pop("event-data"),
        lambda body: body.__setitem__("event-data", "failed"),
        lambda body: body["event-data"].pop("event"),
        lambda body: body["event-data"].pop("id"),
        lambda body: body["event-data"].__setitem__("recipient", ["a@example.com"]),
        lambda body: body["event-data"].__setitem__("timestamp", "yesterday"),
    ],
)
def test_malformed_event_data_is_400(feedback_url, mailgun_provider, mangle):
    message = sent_message(mailgun_provider)
    body = mg_event(message, "delivered")
    mangle(body)
    response = post(feedback_url(mailgun_provider), body)
    assert response.status_code == 400, response.text
    assert not message.events.exists()


def test_a_legacy_form_post_is_400(feedback_url, mailgun_provider):
    response = post(
        feedback_url(mailgun_provider),
        b"event=delivered&recipient=jane%40example.com",
        {"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert response.status_code == 400


def test_a_permanent_failure_suppresses_and_a_temporary_one_does_not(
    feedback_url, mailgun_provider
):
    from suppressions.models import Suppression

    gone = sent_message(mailgun_provider, to_email="gone@example.com")
    full = sent_message(mailgun_provider, to_email="full@example.com")
    post(feedback_url(mailgun_provider), mg_event(gone, "failed", "permanent"))
    post(feedback_url(mailgun_provider), mg_event(full, "failed", "temporary"))
    assert list(Suppression.objects.values_list("email", flat=True)) == ["gone@example.com"]
