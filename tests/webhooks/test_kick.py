"""The after-commit kick: an event written through the ORM is delivered without waiting for the
periodic run; a broker that is down never fails or holds up the writer."""

import threading
import time

import pytest

from mail.models import EventType, MessageEvent
from tests.factories import MessageFactory
from webhooks import delivery
from webhooks.signals import accounts_with_endpoints_forget

pytestmark = pytest.mark.django_db(transaction=True)


def _kick_idle(timeout: float = 15.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not delivery._kick_state["busy"]:
            return True
        time.sleep(0.05)
    return False


@pytest.fixture
def kick_on(settings):
    assert _kick_idle()
    settings.MAILPASS_WEBHOOK_KICK = True
    delivery._kick_state["last"] = 0.0
    accounts_with_endpoints_forget()
    yield
    assert _kick_idle()


def test_an_event_is_delivered_right_after_its_transaction_commits(
    alice, receiver, endpoint_factory, allow_private, kick_on, settings
):
    settings.CELERY_TASK_ALWAYS_EAGER = True  # the embedded default: delivered in a thread
    endpoint_factory(account=alice, url=receiver.url)
    message = MessageFactory(account=alice)

    MessageEvent.objects.create(message=message, event_type=EventType.SENT)

    assert len(receiver.wait_for(1, timeout=15)) == 1
    assert receiver.received[0].json["type"] == "message.sent"


def test_a_broker_that_is_down_does_not_fail_or_hold_up_the_writer(
    alice, receiver, endpoint_factory, allow_private, kick_on, settings, monkeypatch
):
    settings.CELERY_TASK_ALWAYS_EAGER = False
    release, publishes = threading.Event(), []

    def broker_down(*args, **kwargs):
        publishes.append("started")
        release.wait(10)  # a publish that hangs until the test lets it fail
        publishes.append("failed")
        raise ConnectionError("broker down")

    monkeypatch.setattr(delivery, "_kick_publish", broker_down)
    endpoint_factory(account=alice, url=receiver.url)
    message = MessageFactory(account=alice)

    MessageEvent.objects.create(message=message, event_type=EventType.SENT)

    assert "failed" not in publishes  # the writer returned while the publish still hung
    release.set()
    assert _kick_idle()
    assert publishes == ["started", "failed"]
    assert receiver.received == []  # waits in the database for the periodic run
    from webhooks.models import WebhookDelivery

    assert WebhookDelivery.objects.get().status == "pending"


def test_no_kick_for_accounts_without_endpoints(alice, bob, endpoint_factory, kick_on, monkeypatch):
    kicks = []
    monkeypatch.setattr(delivery, "webhooks_kick", lambda: kicks.append(1))
    endpoint_factory(account=bob, url="https://93.184.216.34/hook")
    message = MessageFactory(account=alice)

    MessageEvent.objects.create(message=message, event_type=EventType.SENT)

    assert kicks == []
