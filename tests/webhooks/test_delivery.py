"""Delivery to a real receiver on loopback: Standard Webhooks signatures checked with the
`standardwebhooks` library itself, the payload, retries, the schedule, switch-off, replay."""

import json
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.utils import timezone
from standardwebhooks.webhooks import Webhook

from mail.models import EventType, MessageEvent
from tests.factories import MessageFactory
from webhooks.delivery import webhooks_run
from webhooks.models import DeliveryStatus, WebhookAttempt, WebhookDelivery, WebhookEndpoint
from webhooks.services import deliveries_replay, endpoint_secret_rotate, endpoint_update

pytestmark = pytest.mark.django_db


@pytest.fixture
def message(alice):
    return MessageFactory(
        account=alice,
        to_email="user@example.com",
        subject="Order Confirmation",
        tags=["order"],
        metadata={"order_id": "12345"},
    )


def _due_now() -> None:
    WebhookDelivery.objects.filter(status=DeliveryStatus.PENDING).update(
        next_attempt_at=timezone.now()
    )


def test_the_receiver_verifies_the_delivery_with_the_standardwebhooks_library(
    alice, message, receiver, endpoint_factory, allow_private
):
    endpoint, secret = endpoint_factory(account=alice, url=receiver.url)
    event = MessageEvent.objects.create(
        message=message,
        event_type=EventType.BOUNCED,
        recipient="user@example.com",
        detail="550 5.1.1 user unknown",
    )

    result = webhooks_run()

    assert (result.delivered, result.retried, result.failed) == (1, 0, 0)
    (got,) = receiver.received
    payload = Webhook(secret).verify(got.body, got.headers)
    delivery = WebhookDelivery.objects.get()
    assert got.headers["webhook-id"] == delivery.webhook_id
    assert got.headers["content-type"] == "application/json"
    assert payload == {
        "type": "message.bounced",
        "created_at": event.created_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "data": {
            "message_id": message.message_id,
            "to": "user@example.com",
            "from": "support@yourdomain.com",
            "subject": "Order Confirmation",
            "status": "bounced",
            "tags": ["order"],
            "metadata": {"order_id": "12345"},
            "event": {
                "event_type": "bounced",
                "recipient": "user@example.com",
                "detail": "550 5.1.1 user unknown",
                "ip_address": None,
                "user_agent": None,
                "url": None,
                "created_at": event.created_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
            },
        },
    }
    assert delivery.status == DeliveryStatus.DELIVERED
    assert delivery.attempts == 1 and delivery.last_status_code == 200
    assert delivery.last_response == "ok"
    endpoint.refresh_from_db()
    assert endpoint.last_status_code == 200 and endpoint.failing_since is None


def test_a_wrong_secret_or_a_changed_body_fails_verification(
    alice, message, receiver, endpoint_factory, allow_private
):
    from standardwebhooks.webhooks import WebhookVerificationError

    from webhooks.signing import secret_generate

    endpoint_factory(account=alice, url=receiver.url)
    MessageEvent.objects.create(message=message, event_type=EventType.SENT)
    webhooks_run()
    (got,) = receiver.received

    with pytest.raises(WebhookVerificationError):
        Webhook(secret_generate()).verify(got.body, got.headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(secret_generate()).verify(got.body.replace(b"sent", b"sEnt"), got.headers)


def test_during_a_rotation_both_secrets_sign_space_separated(
    alice, message, receiver, endpoint_factory, allow_private
):
    endpoint, old_secret = endpoint_factory(account=alice, url=receiver.url)
    new_secret = endpoint_secret_rotate(endpoint=endpoint).secret
    MessageEvent.objects.create(message=message, event_type=EventType.SENT)

    webhooks_run()

    (got,) = receiver.received
    assert len(got.headers["webhook-signature"].split(" ")) == 2
    Webhook(old_secret).verify(got.body, got.headers)
    Webhook(new_secret).verify(got.body, got.headers)


def test_after_24_hours_only_the_new_secret_signs(
    alice, message, receiver, endpoint_factory, allow_private
):
    from standardwebhooks.webhooks import WebhookVerificationError

    endpoint, old_secret = endpoint_factory(account=alice, url=receiver.url)
    new_secret = endpoint_secret_rotate(endpoint=endpoint).secret
    WebhookEndpoint.objects.filter(pk=endpoint.pk).update(
        previous_secret_expires_at=timezone.now() - timedelta(seconds=1)
    )
    MessageEvent.objects.create(message=message, event_type=EventType.SENT)

    webhooks_run()

    (got,) = receiver.received
    Webhook(new_secret).verify(got.body, got.headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(old_secret).verify(got.body, got.headers)


def test_500_four_times_then_200_delivers_with_the_same_webhook_id_on_the_schedule(
    alice, message, receiver, endpoint_factory, allow_private, settings
):
    settings.MAILPASS_WEBHOOK_RETRY_SCHEDULE = [5, 300, 1800, 7200, 18000, 36000, 36000]
    endpoint, secret = endpoint_factory(account=alice, url=receiver.url)
    receiver.behaviour.statuses = [500, 500, 500, 500]
    MessageEvent.objects.create(message=message, event_type=EventType.SENT)

    delays = []
    for _ in range(4):
        before = timezone.now()
        assert webhooks_run().retried == 1
        delivery = WebhookDelivery.objects.get()
        delays.append(round((delivery.next_attempt_at - before).total_seconds()))
        assert webhooks_run().retried == 0  # not due yet: nothing is sent early
        _due_now()
    assert webhooks_run().delivered == 1

    assert delays == [5, 300, 1800, 7200]
    ids = {got.headers["webhook-id"] for got in receiver.received}
    assert ids == {WebhookDelivery.objects.get().webhook_id}
    assert len(receiver.received) == 5
    for got in receiver.received:
        Webhook(secret).verify(got.body, got.headers)
    assert list(WebhookAttempt.objects.values_list("status_code", flat=True)) == [
        500,
        500,
        500,
        500,
        200,
    ]


def test_a_delivery_fails_after_the_last_attempt_of_the_schedule(
    alice, message, receiver, endpoint_factory, allow_private, settings
):
    settings.MAILPASS_WEBHOOK_RETRY_SCHEDULE = [0, 0]
    endpoint_factory(account=alice, url=receiver.url)
    receiver.behaviour.default_status = 503
    MessageEvent.objects.create(message=message, event_type=EventType.SENT)

    result = webhooks_run()  # retries due at once are sent in the same run

    assert (result.delivered, result.retried, result.failed) == (0, 2, 1)
    delivery = WebhookDelivery.objects.get()
    assert delivery.status == DeliveryStatus.FAILED and delivery.attempts == 3
    assert delivery.next_attempt_at is None
    assert webhooks_run().failed == 0 and len(receiver.received) == 3


def test_redirects_are_not_followed_and_count_as_failures(
    alice, message, receiver_factory, endpoint_factory, allow_private
):
    target = receiver_factory()
    redirecting = receiver_factory()
    redirecting.behaviour.default_status = 302
    redirecting.behaviour.location = target.url
    endpoint_factory(account=alice, url=redirecting.url)
    MessageEvent.objects.create(message=message, event_type=EventType.SENT)

    assert webhooks_run().retried == 1

    assert target.received == []
    delivery = WebhookDelivery.objects.get()
    assert delivery.last_status_code == 302
    assert "redirects are not followed" in delivery.last_error


def test_any_2xx_is_success_and_the_first_kib_of_the_answer_is_kept(
    alice, message, receiver, endpoint_factory, allow_private
):
    receiver.behaviour.default_status = 204
    receiver.behaviour.answer = b""
    endpoint_factory(account=alice, url=receiver.url)
    MessageEvent.objects.create(message=message, event_type=EventType.SENT)
    assert webhooks_run().delivered == 1

    receiver.behaviour.default_status = 500
    receiver.behaviour.answer = b"x" * 5000
    MessageEvent.objects.create(message=message, event_type=EventType.DELIVERED)
    assert webhooks_run().retried == 1
    failed = WebhookDelivery.objects.get(status=DeliveryStatus.PENDING)
    assert failed.last_response == "x" * 1024


def test_a_timeout_is_a_failure_that_is_retried(
    alice, message, receiver, endpoint_factory, allow_private, settings
):
    settings.MAILPASS_WEBHOOK_TIMEOUT = 0.3
    receiver.behaviour.delay = 1.0
    endpoint_factory(account=alice, url=receiver.url)
    MessageEvent.objects.create(message=message, event_type=EventType.SENT)

    assert webhooks_run().retried == 1

    assert "timeout" in WebhookDelivery.objects.get().last_error


def test_a_loopback_address_is_refused_at_delivery_without_the_setting(
    alice, message, receiver, endpoint_factory, settings
):
    settings.MAILPASS_WEBHOOK_ALLOW_PRIVATE_NETWORKS = False
    endpoint_factory(account=alice, url=receiver.url.replace("127.0.0.1", "localhost"))
    MessageEvent.objects.create(message=message, event_type=EventType.SENT)

    assert webhooks_run().retried == 1

    assert receiver.received == []
    assert "loopback, private" in WebhookDelivery.objects.get().last_error


def test_a_name_that_resolves_to_a_private_address_at_delivery_is_refused(
    alice, message, receiver, endpoint_factory, settings, monkeypatch
):
    """DNS rebinding: public when the endpoint was made, loopback when the event goes out."""
    from webhooks import network

    settings.MAILPASS_WEBHOOK_ALLOW_PRIVATE_NETWORKS = False
    answers = {"hooks.example.com": ["93.184.216.34"]}
    monkeypatch.setattr(network, "host_resolve", lambda host, port: answers[host])
    network.url_check_at_creation(f"http://hooks.example.com:{receiver.port}/hook")
    endpoint_factory(account=alice, url=f"http://hooks.example.com:{receiver.port}/hook")
    answers["hooks.example.com"] = ["127.0.0.1"]
    MessageEvent.objects.create(message=message, event_type=EventType.SENT)

    assert webhooks_run().retried == 1

    assert receiver.received == []
    assert "127.0.0.1" in WebhookDelivery.objects.get().last_error


def test_the_delivery_connects_to_the_address_that_was_checked(
    alice, message, receiver, endpoint_factory, settings, monkeypatch
):
    """The checked address is the one connected to; the Host header keeps the name."""
    from webhooks import network

    settings.MAILPASS_WEBHOOK_ALLOW_PRIVATE_NETWORKS = False
    monkeypatch.setattr(network, "address_is_public", lambda address: True)
    monkeypatch.setattr(network, "host_resolve", lambda host, port: ["127.0.0.1"])
    endpoint_factory(account=alice, url=f"http://hooks.example.com:{receiver.port}/hook?a=1")
    MessageEvent.objects.create(message=message, event_type=EventType.SENT)

    assert webhooks_run().delivered == 1

    (got,) = receiver.received
    assert got.headers["host"] == f"hooks.example.com:{receiver.port}"
    assert got.path == "/hook?a=1"


def test_an_endpoint_failing_for_5_days_is_switched_off_and_switching_on_resumes(
    alice, message, receiver, endpoint_factory, allow_private, settings
):
    settings.MAILPASS_WEBHOOK_RETRY_SCHEDULE = [3600] * 10
    endpoint, secret = endpoint_factory(account=alice, url=receiver.url)
    receiver.behaviour.default_status = 500
    MessageEvent.objects.create(message=message, event_type=EventType.SENT)
    webhooks_run()
    endpoint.refresh_from_db()
    assert endpoint.active and endpoint.failing_since is not None
    WebhookEndpoint.objects.filter(pk=endpoint.pk).update(
        failing_since=timezone.now() - timedelta(days=5, seconds=1)
    )
    _due_now()

    webhooks_run()

    endpoint.refresh_from_db()
    assert endpoint.active is False
    assert "5 days" in endpoint.disabled_reason
    delivery = WebhookDelivery.objects.get()
    assert delivery.status == DeliveryStatus.PENDING  # kept, waiting for the endpoint
    assert webhooks_run().retried == 0
    MessageEvent.objects.create(message=message, event_type=EventType.DELIVERED)
    assert WebhookDelivery.objects.count() == 1  # no new deliveries while off

    receiver.behaviour.default_status = 200
    endpoint_update(endpoint=endpoint, data={"active": True})  # due again at once
    assert webhooks_run().delivered == 1

    endpoint.refresh_from_db()
    assert endpoint.disabled_reason == "" and endpoint.failing_since is None
    assert len({got.headers["webhook-id"] for got in receiver.received}) == 1


def test_one_success_resets_the_failure_clock(
    alice, message, receiver, endpoint_factory, allow_private
):
    endpoint, _ = endpoint_factory(account=alice, url=receiver.url)
    receiver.behaviour.statuses = [500]
    MessageEvent.objects.create(message=message, event_type=EventType.SENT)
    webhooks_run()
    _due_now()

    webhooks_run()

    endpoint.refresh_from_db()
    assert endpoint.failing_since is None and endpoint.active


def test_replay_sends_a_delivered_event_again_with_the_same_webhook_id(
    alice, message, receiver, endpoint_factory, allow_private
):
    endpoint, secret = endpoint_factory(account=alice, url=receiver.url)
    MessageEvent.objects.create(message=message, event_type=EventType.SENT)
    webhooks_run()
    delivery = WebhookDelivery.objects.get()

    assert deliveries_replay(delivery_ids=[delivery.pk]) == 1
    assert webhooks_run().delivered == 1

    first, second = receiver.received
    assert first.headers["webhook-id"] == second.headers["webhook-id"] == delivery.webhook_id
    assert json.loads(first.body) == json.loads(second.body)
    Webhook(secret).verify(second.body, second.headers)


def test_replay_within_another_account_changes_nothing(
    alice, bob, message, receiver, endpoint_factory, allow_private
):
    endpoint_factory(account=alice, url=receiver.url)
    MessageEvent.objects.create(message=message, event_type=EventType.SENT)
    webhooks_run()
    delivery = WebhookDelivery.objects.get()

    assert deliveries_replay(delivery_ids=[delivery.pk], account_id=bob.pk) == 0


def test_process_webhooks_prints_what_succeeded_was_retried_and_failed(
    alice, receiver_factory, endpoint_factory, allow_private, settings, capsys
):
    settings.MAILPASS_WEBHOOK_RETRY_SCHEDULE = [3600]
    good, bad = receiver_factory(), receiver_factory()
    bad.behaviour.default_status = 500
    endpoint_factory(account=alice, url=good.url)
    endpoint_factory(account=alice, url=bad.url)
    for _ in range(3):
        MessageEvent.objects.create(
            message=MessageFactory(account=alice), event_type=EventType.SENT
        )

    call_command("process_webhooks")
    _due_now()
    call_command("process_webhooks", "--limit", "2")

    out = capsys.readouterr().out.split("\n")
    assert out[0] == "delivered=3 retried=3 failed=0"
    assert out[1] == "delivered=0 retried=0 failed=2"


def test_the_test_action_sends_webhook_test_whatever_the_filter_and_answers_the_outcome(
    alice, hooks_client, receiver, endpoint_factory, allow_private
):
    endpoint, secret = endpoint_factory(account=alice, url=receiver.url, events=["message.bounced"])

    answer = hooks_client.post(f"/api/v1/webhooks/{endpoint.pk}/test")

    assert answer.status_code == 200, answer.json()
    data = answer.json()["data"]
    assert data["success"] is True and data["status_code"] == 200
    assert isinstance(data["ms"], int) and data["error"] is None
    (got,) = receiver.received
    payload = Webhook(secret).verify(got.body, got.headers)
    assert payload["type"] == "webhook.test"
    assert got.headers["webhook-id"] == data["webhook_id"]
    listed = hooks_client.get(f"/api/v1/webhooks/{endpoint.pk}").json()["data"]
    assert listed["last_delivery"]["status_code"] == 200
    assert listed["last_delivery"]["success"] is True


def test_a_failed_test_is_answered_and_not_retried(
    alice, hooks_client, receiver, endpoint_factory, allow_private
):
    receiver.behaviour.default_status = 418
    endpoint, _ = endpoint_factory(account=alice, url=receiver.url)

    data = hooks_client.post(f"/api/v1/webhooks/{endpoint.pk}/test").json()["data"]

    assert data["success"] is False and data["status_code"] == 418
    assert data["error"] == "HTTP 418"
    assert WebhookDelivery.objects.get().status == DeliveryStatus.FAILED
    endpoint.refresh_from_db()
    assert endpoint.failing_since is None  # a test does not count towards switching off
