"""The outbox: every event of a section-17 type makes deliveries in the event's transaction,
from any writer (ORM, raw SQL), for the matching active endpoints of the message's account."""

import pytest
from django.db import connection, transaction

from mail.models import EventType, MessageEvent, MessageStatus
from mail.services import message_mark_sent
from tests.factories import MessageFactory
from webhooks import triggers
from webhooks.events import WEBHOOK_EVENT_TYPES
from webhooks.models import DeliveryStatus, WebhookDelivery

pytestmark = pytest.mark.django_db

URL = "https://93.184.216.34/hook"


def test_the_trigger_maps_exactly_the_event_types_of_the_code():
    assert triggers.WEBHOOK_EVENT_TYPES == {str(k): v for k, v in WEBHOOK_EVENT_TYPES.items()}


@pytest.mark.parametrize("event_type, hook_type", sorted(WEBHOOK_EVENT_TYPES.items()))
def test_each_event_type_makes_one_pending_delivery_per_active_endpoint(
    alice, endpoint_factory, event_type, hook_type
):
    first, _ = endpoint_factory(account=alice, url=URL)
    second, _ = endpoint_factory(account=alice, url=URL + "/2")
    message = MessageFactory(account=alice)

    event = MessageEvent.objects.create(message=message, event_type=event_type)

    deliveries = WebhookDelivery.objects.filter(event=event).order_by("endpoint_id")
    assert [d.endpoint_id for d in deliveries] == [first.pk, second.pk]
    for delivery in deliveries:
        assert delivery.event_type == hook_type
        assert delivery.status == DeliveryStatus.PENDING
        assert delivery.account_id == alice.pk
        assert delivery.attempts == 0
        assert delivery.next_attempt_at is not None
        assert delivery.webhook_id.startswith("msg_") and len(delivery.webhook_id) == 36
    assert deliveries[0].webhook_id != deliveries[1].webhook_id


@pytest.mark.parametrize("event_type", [EventType.QUEUED, EventType.SCHEDULED])
def test_events_without_a_webhook_type_make_nothing(alice, endpoint_factory, event_type):
    endpoint_factory(account=alice, url=URL)
    message = MessageFactory(account=alice)

    MessageEvent.objects.create(message=message, event_type=event_type)

    assert not WebhookDelivery.objects.exists()


def test_only_subscribed_types_reach_a_filtered_endpoint(alice, endpoint_factory):
    bounces, _ = endpoint_factory(account=alice, url=URL, events=["message.bounced"])
    message = MessageFactory(account=alice)

    MessageEvent.objects.create(message=message, event_type=EventType.SENT)
    MessageEvent.objects.create(message=message, event_type=EventType.BOUNCED)

    assert list(WebhookDelivery.objects.values_list("endpoint_id", "event_type")) == [
        (bounces.pk, "message.bounced")
    ]


def test_inactive_endpoints_and_other_accounts_endpoints_get_nothing(alice, bob, endpoint_factory):
    endpoint_factory(account=alice, url=URL, active=False)
    endpoint_factory(account=bob, url=URL)
    message = MessageFactory(account=alice)

    MessageEvent.objects.create(message=message, event_type=EventType.SENT)

    assert not WebhookDelivery.objects.exists()


def test_the_one_statement_raw_sql_sent_update_makes_deliveries_too(alice, endpoint_factory):
    endpoint_factory(account=alice, url=URL)
    message = MessageFactory(account=alice, status=MessageStatus.SENDING)

    assert message_mark_sent(message=message)

    delivery = WebhookDelivery.objects.get()
    assert delivery.event.event_type == "sent"
    assert delivery.message_status == "sent"


def test_a_raw_sql_insert_of_an_event_makes_deliveries(alice, endpoint_factory):
    endpoint_factory(account=alice, url=URL)
    message = MessageFactory(account=alice)

    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO mail_messageevent (message_id, event_type, ip_address, user_agent, "
            "url, detail, recipient, external_id, created_at) "
            "VALUES (%s, 'click', '192.0.2.1', 'UA', 'https://example.com/', '', '', '', %s)",
            [message.pk, message.created_at],
        )

    assert WebhookDelivery.objects.get().event_type == "message.clicked"


def test_a_rolled_back_event_leaves_no_delivery(alice, endpoint_factory):
    endpoint_factory(account=alice, url=URL)
    message = MessageFactory(account=alice)

    with pytest.raises(RuntimeError), transaction.atomic():
        MessageEvent.objects.create(message=message, event_type=EventType.SENT)
        assert WebhookDelivery.objects.count() == 1  # written in the event's transaction
        raise RuntimeError

    assert not WebhookDelivery.objects.exists()


@pytest.mark.parametrize(
    "event_type, recipient, message_status, expected",
    [
        ("sent", "", "sent", "sent"),
        ("delivered", "", "sent", "delivered"),
        ("bounced", "user@example.com", "sent", "bounced"),
        ("bounced", "USER@example.com", "sent", "bounced"),
        ("bounced", "cc@example.com", "sent", "sent"),  # a cc's bounce leaves the status
        ("failed", "", "sending", "failed"),
        ("deferred", "", "sending", "queued"),  # the queue will try again
        ("deferred", "", "sent", "sent"),  # a provider's soft bounce after sent
        ("complained", "user@example.com", "delivered", "delivered"),
        ("open", "", "delivered", "delivered"),
        ("click", "", "sent", "sent"),
        ("suppressed", "", "queued", "suppressed"),
        ("canceled", "", "scheduled", "canceled"),
    ],
)
def test_the_delivery_keeps_the_message_status_as_of_the_event(
    alice, endpoint_factory, event_type, recipient, message_status, expected
):
    endpoint_factory(account=alice, url=URL)
    message = MessageFactory(account=alice, status=message_status, to_email="user@example.com")

    MessageEvent.objects.create(message=message, event_type=event_type, recipient=recipient)

    assert WebhookDelivery.objects.get().message_status == expected
