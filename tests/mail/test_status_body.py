"""The status answer is exactly API.md section 5: the message, then its events oldest first."""

import datetime

import pytest
from django.utils import timezone

from mail.models import EventType, Message, MessageEvent, MessageStatus, QueueItem
from tests.factories import MessageFactory

UTC = datetime.UTC


def at(*args, micro: int = 0) -> datetime.datetime:
    return datetime.datetime(*args, microsecond=micro, tzinfo=UTC)


@pytest.mark.django_db
def test_it_answers_the_message_and_its_events_as_the_contract_shows(alice, alice_client):
    message = MessageFactory(
        account=alice,
        message_id="<abc123.1706600000@mailpass.im>",
        from_email="support@yourdomain.com",
        to_email="user@example.com",
        subject="Order Confirmation",
        status=MessageStatus.SENT,
        tags=["order"],
        metadata={"order_id": "12345"},
        attempts=1,
        error_message="",
    )
    Message.objects.filter(pk=message.pk).update(
        created_at=at(2026, 1, 30, 12, 0, 0, micro=123456),
        sent_at=at(2026, 1, 30, 12, 0, 0, micro=987654),
    )
    sent = MessageEvent.objects.create(message=message, event_type=EventType.SENT)
    opened = MessageEvent.objects.create(
        message=message,
        event_type=EventType.OPEN,
        ip_address="192.168.1.1",
        user_agent="Mozilla/5.0 (X11)",
    )
    clicked = MessageEvent.objects.create(
        message=message,
        event_type=EventType.CLICK,
        ip_address="2001:db8::1",
        user_agent="Mozilla/5.0 (X11)",
        url="https://example.com/orders/12345?x=1&y=2",
    )
    # Written in another order than they happened: the answer is by time, oldest first.
    MessageEvent.objects.filter(pk=clicked.pk).update(created_at=at(2026, 1, 30, 12, 6, 1))
    MessageEvent.objects.filter(pk=opened.pk).update(created_at=at(2026, 1, 30, 12, 5, 0, micro=5))
    MessageEvent.objects.filter(pk=sent.pk).update(created_at=at(2026, 1, 30, 12, 0, 0))

    response = alice_client.get("/api/v1/mail/status/abc123.1706600000@mailpass.im")

    assert response.status_code == 200
    assert response.json() == {
        "success": True,
        "data": {
            "message": {
                "message_id": "<abc123.1706600000@mailpass.im>",
                "from_email": "support@yourdomain.com",
                "to_email": "user@example.com",
                "subject": "Order Confirmation",
                "status": "sent",
                "error_message": None,
                "sent_at": "2026-01-30T12:00:00Z",
                "created_at": "2026-01-30T12:00:00Z",
                "cc": [],
                "tags": ["order"],
                "metadata": {"order_id": "12345"},
                "queue_id": None,
                "attempts": 1,
                "send_at": None,
                "attachments": [],
                "template": None,
                "suppressed": [],
            },
            "events": [
                {
                    "event_type": "sent",
                    "recipient": None,
                    "detail": None,
                    "ip_address": None,
                    "user_agent": None,
                    "url": None,
                    "created_at": "2026-01-30T12:00:00Z",
                },
                {
                    "event_type": "open",
                    "recipient": None,
                    "detail": None,
                    "ip_address": "192.168.1.1",
                    "user_agent": "Mozilla/5.0 (X11)",
                    "url": None,
                    "created_at": "2026-01-30T12:05:00Z",
                },
                {
                    "event_type": "click",
                    "recipient": None,
                    "detail": None,
                    "ip_address": "2001:db8::1",
                    "user_agent": "Mozilla/5.0 (X11)",
                    "url": "https://example.com/orders/12345?x=1&y=2",
                    "created_at": "2026-01-30T12:06:01Z",
                },
            ],
        },
    }


@pytest.mark.django_db
def test_a_queued_message_shows_its_queue_id_and_no_sent_at(alice, alice_client):
    message = MessageFactory(
        account=alice, status=MessageStatus.QUEUED, cc=["cc@example.com"], attempts=0
    )
    item = QueueItem.objects.create(message=message, account=alice, next_attempt_at=timezone.now())
    MessageEvent.objects.create(message=message, event_type=EventType.QUEUED)

    data = alice_client.get(f"/api/v1/mail/status/{message.message_id}").json()["data"]

    assert data["message"]["status"] == "queued"
    assert data["message"]["queue_id"] == item.pk
    assert data["message"]["sent_at"] is None
    assert data["message"]["cc"] == ["cc@example.com"]
    assert data["message"]["attempts"] == 0
    assert [event["event_type"] for event in data["events"]] == ["queued"]


@pytest.mark.django_db
def test_a_failed_message_shows_the_servers_reply(alice, alice_client):
    message = MessageFactory(
        account=alice,
        status=MessageStatus.FAILED,
        error_message="550 5.1.1 No such user",
        attempts=1,
    )
    data = alice_client.get(f"/api/v1/mail/status/{message.message_id}").json()["data"]
    assert data["message"]["status"] == "failed"
    assert data["message"]["error_message"] == "550 5.1.1 No such user"
    assert data["events"] == []


@pytest.mark.django_db
def test_times_are_utc_whatever_the_active_time_zone(alice, alice_client, settings):
    settings.TIME_ZONE = "Europe/Berlin"
    message = MessageFactory(account=alice)
    Message.objects.filter(pk=message.pk).update(created_at=at(2026, 7, 1, 22, 30, 15))
    with timezone.override("Asia/Tokyo"):
        data = alice_client.get(f"/api/v1/mail/status/{message.message_id}").json()["data"]
    assert data["message"]["created_at"] == "2026-07-01T22:30:15Z"
