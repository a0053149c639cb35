"""Amazon SES events over SNS (API.md section 16.1), posted over real HTTP, signed by a test
certificate served from a local HTTP server."""

import json

import pytest

from mail.models import MessageStatus
from tests.feedback.conftest import (
    TOPIC_ARN,
    sent_message,
    ses_bounce,
    ses_complaint,
    ses_delivery,
    sns_post,
)

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.mark.parametrize("version", ["1", "2"])
def test_a_signed_delivery_marks_the_message_delivered(
    fake_sns, feedback_url, ses_provider, version
):
    message = sent_message(ses_provider)
    response = sns_post(
        feedback_url(ses_provider), fake_sns.notification(ses_delivery(message), version=version)
    )
    assert response.status_code == 200, response.text
    assert response.json() == {
        "success": True,
        "data": {"recorded": 1, "duplicates": 0, "ignored": 0},
    }
    message.refresh_from_db()
    assert message.status == MessageStatus.DELIVERED
    (event,) = message.events.all()
    assert event.recipient == "jane@example.com"
    assert "250 ok" in event.detail


def test_a_message_is_found_by_the_id_of_the_250_reply(fake_sns, feedback_url, ses_provider):
    message = sent_message(ses_provider, provider_message_id="0100018c1a2b3c4d-aaaa-000000")
    event = ses_delivery(message)
    # SES replaces the Message-ID header with its own: only its id names the message.
    event["mail"]["commonHeaders"]["messageId"] = "<0100018c1a2b3c4d@email.amazonses.com>"
    event["mail"]["headers"] = []
    assert sns_post(feedback_url(ses_provider), fake_sns.notification(event)).status_code == 200
    message.refresh_from_db()
    assert message.status == MessageStatus.DELIVERED


def test_a_permanent_bounce_marks_it_bounced(fake_sns, feedback_url, ses_provider):
    message = sent_message(ses_provider)
    sns_post(feedback_url(ses_provider), fake_sns.notification(ses_bounce(message)))
    message.refresh_from_db()
    assert message.status == MessageStatus.BOUNCED
    event = message.events.get()
    assert event.event_type == "bounced"
    assert "550 5.1.1 user unknown" in event.detail


def test_a_transient_bounce_is_deferred_and_keeps_the_status(fake_sns, feedback_url, ses_provider):
    message = sent_message(ses_provider)
    sns_post(
        feedback_url(ses_provider),
        fake_sns.notification(ses_bounce(message, bounce_type="Transient")),
    )
    message.refresh_from_db()
    assert message.status == MessageStatus.SENT
    assert message.events.get().event_type == "deferred"


def test_a_complaint_is_recorded_and_keeps_the_status(fake_sns, feedback_url, ses_provider):
    message = sent_message(ses_provider, status=MessageStatus.DELIVERED)
    sns_post(feedback_url(ses_provider), fake_sns.notification(ses_complaint(message)))
    message.refresh_from_db()
    assert message.status == MessageStatus.DELIVERED
    assert message.events.get().event_type == "complained"


def test_an_event_publishing_record_is_read_too(fake_sns, feedback_url, ses_provider):
    message = sent_message(ses_provider)
    event = ses_delivery(message)
    event["eventType"] = event.pop("notificationType")
    sns_post(feedback_url(ses_provider), fake_sns.notification(event))
    message.refresh_from_db()
    assert message.status == MessageStatus.DELIVERED


def test_a_retried_notification_is_recorded_once(fake_sns, feedback_url, ses_provider):
    message = sent_message(ses_provider)
    notification = fake_sns.notification(ses_bounce(message))
    first = sns_post(feedback_url(ses_provider), notification)
    again = sns_post(feedback_url(ses_provider), notification)
    assert first.json()["data"]["recorded"] == 1
    assert again.status_code == 200
    assert again.json()["data"] == {"recorded": 0, "duplicates": 1, "ignored": 0}
    assert message.events.count() == 1


def test_the_signing_certificate_is_fetched_once(fake_sns, feedback_url, ses_provider):
    message = sent_message(ses_provider)
    for _ in range(3):
        sns_post(feedback_url(ses_provider), fake_sns.notification(ses_delivery(message)))
    assert [path for path in fake_sns.requests if path.endswith(".pem")] == [
        "/SimpleNotificationService-test.pem"
    ]


def test_a_subscription_is_confirmed_by_fetching_its_subscribe_url(
    fake_sns, feedback_url, ses_provider
):
    confirmation = fake_sns.subscription_confirmation()
    response = sns_post(feedback_url(ses_provider), confirmation)
    assert response.status_code == 200
    assert any("Action=ConfirmSubscription" in path for path in fake_sns.requests)


def test_an_unknown_message_is_acknowledged_and_recorded_nowhere(
    fake_sns, feedback_url, ses_provider
):
    message = sent_message(ses_provider)
    event = ses_delivery(message)
    event["mail"]["commonHeaders"]["messageId"] = "<nobody@mailpass.im>"
    event["mail"]["headers"] = []
    event["mail"]["messageId"] = "0100018c-nobody-000000"
    response = sns_post(feedback_url(ses_provider), fake_sns.notification(event))
    assert response.status_code == 200
    assert response.json()["data"]["ignored"] == 1
    assert not message.events.exists()


def test_an_event_for_another_accounts_message_is_ignored(
    fake_sns, feedback_url, ses_provider, bob_ses_provider
):
    bobs = sent_message(bob_ses_provider, provider_message_id="0100018c-bob-000000")
    response = sns_post(feedback_url(ses_provider), fake_sns.notification(ses_bounce(bobs)))
    assert response.status_code == 200
    assert response.json()["data"]["ignored"] == 1
    bobs.refresh_from_db()
    assert bobs.status == MessageStatus.SENT
    assert not bobs.events.exists()


# --- refused: 400 and nothing recorded ------------------------------------------------------


def _refused(response, message):
    assert response.status_code == 400, response.text
    body = response.json()
    assert body["success"] is False
    assert body["error"]["code"] == "VALIDATION_ERROR"
    assert body["error"]["details"]
    assert not message.events.exists()


def test_a_notification_with_a_changed_message_is_refused(fake_sns, feedback_url, ses_provider):
    message = sent_message(ses_provider)
    notification = fake_sns.notification(ses_delivery(message))
    notification["Message"] = json.dumps(ses_bounce(message))
    _refused(sns_post(feedback_url(ses_provider), notification), message)


def test_an_unsigned_notification_is_refused(fake_sns, feedback_url, ses_provider):
    message = sent_message(ses_provider)
    notification = fake_sns.notification(ses_bounce(message))
    del notification["Signature"]
    _refused(sns_post(feedback_url(ses_provider), notification), message)


def test_a_notification_signed_by_another_key_is_refused(fake_sns, feedback_url, ses_provider):
    from cryptography.hazmat.primitives.asymmetric import rsa

    message = sent_message(ses_provider)
    forger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    notification = fake_sns.notification(ses_bounce(message))
    notification = fake_sns.sign(notification, key=forger)
    _refused(sns_post(feedback_url(ses_provider), notification), message)


def test_a_certificate_url_on_another_host_is_refused_without_fetching_it(
    fake_sns, feedback_url, ses_provider
):
    message = sent_message(ses_provider)
    for url in (
        "https://sns.us-east-1.amazonaws.com.evil.example/cert.pem",
        "http://localhost:1/SimpleNotificationService-test.pem",
        f"{fake_sns.base_url}@evil.example/x.pem",
    ):
        notification = fake_sns.notification(ses_bounce(message), SigningCertURL=url)
        _refused(sns_post(feedback_url(ses_provider), notification), message)
    assert fake_sns.requests == []


def test_the_default_pattern_allows_amazon_sns_only():
    from feedback.sns import sns_url_allowed

    assert sns_url_allowed("https://sns.eu-west-1.amazonaws.com/SimpleNotificationService-a.pem")
    assert sns_url_allowed(
        "https://sns.us-east-1.amazonaws.com/?Action=ConfirmSubscription&TopicArn=x&Token=y"
    )
    for bad in (
        "http://sns.eu-west-1.amazonaws.com/x.pem",
        "https://sns.eu-west-1.amazonaws.com.evil.example/x.pem",
        "https://sns.eu-west-1.amazonaws.com@evil.example/x.pem",
        "https://evil.example/https://sns.eu-west-1.amazonaws.com/x.pem",
        "https://sns.eu-west-1.amazonaws.com/x.pem\nhttps://evil.example/",
        None,
    ):
        assert not sns_url_allowed(bad), bad


def test_a_subscribe_url_on_another_host_is_not_fetched(fake_sns, feedback_url, ses_provider):
    confirmation = fake_sns.subscription_confirmation(
        subscribe_url="http://127.0.0.2:9/?Action=ConfirmSubscription"
    )
    response = sns_post(feedback_url(ses_provider), confirmation)
    assert response.status_code == 400
    assert not any("ConfirmSubscription" in path for path in fake_sns.requests)


@pytest.mark.parametrize(
    "body",
    [b"", b"not json", b"[1, 2]", b'{"Type": "Notification"}', b"\xff\xfe", b'"text"'],
)
def test_malformed_bodies_are_400(fake_sns, feedback_url, ses_provider, body):
    from tests.feedback.conftest import post

    response = post(feedback_url(ses_provider), body, {"Content-Type": "text/plain"})
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "VALIDATION_ERROR"


def test_a_signed_message_that_is_not_an_ses_event_is_400(fake_sns, feedback_url, ses_provider):
    message = sent_message(ses_provider)
    for payload in ("not json at all", json.dumps({"notificationType": "Bounce"}), "[]"):
        response = sns_post(feedback_url(ses_provider), fake_sns.notification(payload))
        assert response.status_code == 400, payload
    assert not message.events.exists()


def test_an_unknown_token_is_404(fake_sns, live_server, ses_provider):
    from tests.feedback.conftest import post

    response = post(f"{live_server.url}/feedback/not-a-token", fake_sns.notification("{}"))
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "NOT_FOUND"


def test_the_url_of_a_plain_smtp_provider_is_404(fake_sns, feedback_url, alice_provider):
    response = sns_post(feedback_url(alice_provider), fake_sns.notification("{}"))
    assert response.status_code == 404


def test_get_is_405(feedback_url, ses_provider):
    import httpx

    response = httpx.get(feedback_url(ses_provider))
    assert response.status_code == 405
    assert response.json()["error"]["code"] == "METHOD_NOT_ALLOWED"


def test_the_topic_arn_is_signed(fake_sns, feedback_url, ses_provider):
    message = sent_message(ses_provider)
    notification = fake_sns.notification(ses_delivery(message))
    notification["TopicArn"] = TOPIC_ARN.replace("123456789012", "999999999999")
    _refused(sns_post(feedback_url(ses_provider), notification), message)


def test_an_unreachable_certificate_is_503_so_sns_retries(
    fake_sns, feedback_url, ses_provider, settings
):
    from tests.smtp_server import free_port

    message = sent_message(ses_provider)
    closed = free_port()
    settings.MAILPASS_SNS_CERT_URL_PATTERN = r"http://127\.0\.0\.1:\d+/\S*"
    notification = fake_sns.notification(
        ses_delivery(message), SigningCertURL=f"http://127.0.0.1:{closed}/cert.pem"
    )
    response = sns_post(feedback_url(ses_provider), notification)
    assert response.status_code == 503
    assert response.json()["error"]["code"] == "SERVICE_UNAVAILABLE"
    assert response.headers["Retry-After"]
    assert not message.events.exists()


def test_a_url_that_serves_no_certificate_is_refused(fake_sns, feedback_url, ses_provider):
    message = sent_message(ses_provider)
    # The fake SNS answers a SubscribeURL-style body for anything not ending in .pem.
    notification = fake_sns.notification(
        ses_delivery(message), SigningCertURL=f"{fake_sns.base_url}/not-a-certificate"
    )
    _refused(sns_post(feedback_url(ses_provider), notification), message)


def test_a_permanent_bounce_and_a_complaint_feed_the_suppression_list(
    fake_sns, feedback_url, ses_provider
):
    from suppressions.models import Suppression

    bounced = sent_message(ses_provider, to_email="gone@example.com")
    complained = sent_message(ses_provider, to_email="angry@example.com")
    deferred = sent_message(ses_provider, to_email="busy@example.com")
    url = feedback_url(ses_provider)
    sns_post(url, fake_sns.notification(ses_bounce(bounced)))
    sns_post(url, fake_sns.notification(ses_complaint(complained)))
    sns_post(url, fake_sns.notification(ses_bounce(deferred, bounce_type="Transient")))
    entries = dict(
        Suppression.objects.filter(account=ses_provider.account).values_list("email", "reason")
    )
    assert entries == {"gone@example.com": "hard_bounce", "angry@example.com": "complaint"}
