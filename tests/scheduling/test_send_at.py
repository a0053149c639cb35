"""send_at on /send and batch (API.md s.14): stored scheduled, sent by the drain when due."""

import datetime

import pytest
from django.utils import timezone

from mail.models import Message, QueueItem
from mail.queue import queue_drain

pytestmark = pytest.mark.django_db


def iso(moment: datetime.datetime) -> str:
    return moment.astimezone(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def send(client, **fields):
    body = {"to": "user@example.com", "subject": "Reminder", "text": "t", **fields}
    return client.post("/api/v1/mail/send", body, format="json")


def test_a_future_send_at_stores_the_message_scheduled(alice_client, alice_provider, smtp_server):
    send_at = timezone.now() + datetime.timedelta(hours=2)
    response = send(alice_client, send_at=iso(send_at))
    assert response.status_code == 200, response.json()
    data = response.json()["data"]
    assert data["status"] == "scheduled"
    assert data["send_at"] == iso(send_at)
    message = Message.objects.get(message_id=data["message_id"])
    assert message.status == "scheduled"
    assert message.limit_counted_at is None  # limits count when it is sent
    item = QueueItem.objects.get(message=message)
    assert (item.status, iso(item.next_attempt_at)) == ("queued", iso(send_at))
    assert list(message.events.values_list("event_type", flat=True)) == ["scheduled"]
    status = alice_client.get(f"/api/v1/mail/status/{data['message_id']}").json()["data"]
    assert status["message"]["send_at"] == iso(send_at)
    assert status["message"]["status"] == "scheduled"
    assert smtp_server.messages == []


def test_a_scheduled_message_is_not_sent_before_it_is_due(
    alice_client, alice_provider, smtp_server
):
    send(alice_client, send_at=iso(timezone.now() + datetime.timedelta(minutes=5)))
    assert queue_drain().total == 0
    assert smtp_server.messages == []


def test_the_drain_sends_a_scheduled_message_when_it_is_due(
    alice_client, alice_provider, smtp_server
):
    message_id = send(
        alice_client, send_at=iso(timezone.now() + datetime.timedelta(minutes=5))
    ).json()["data"]["message_id"]
    QueueItem.objects.update(next_attempt_at=timezone.now() - datetime.timedelta(seconds=1))
    assert queue_drain().sent == 1
    assert [m.message_id for m in smtp_server.messages] == [message_id]
    message = Message.objects.get(message_id=message_id)
    assert message.status == "sent"
    assert list(message.events.values_list("event_type", flat=True)) == ["scheduled", "sent"]


def test_process_mail_queue_sends_due_scheduled_messages(alice_client, alice_provider, smtp_server):
    from django.core.management import call_command

    message_id = send(
        alice_client, send_at=iso(timezone.now() + datetime.timedelta(minutes=1))
    ).json()["data"]["message_id"]
    QueueItem.objects.update(next_attempt_at=timezone.now())
    call_command("process_mail_queue")
    assert [m.message_id for m in smtp_server.messages] == [message_id]


@pytest.mark.parametrize("delta", [datetime.timedelta(0), -datetime.timedelta(days=3)])
def test_now_or_past_is_sent_at_once(alice_client, alice_provider, smtp_server, delta):
    response = send(alice_client, send_at=iso(timezone.now() + delta))
    assert response.json()["data"]["status"] == "sent"
    assert "send_at" not in response.json()["data"]
    assert Message.objects.get().send_at is None
    assert len(smtp_server.messages) == 1


def test_a_zone_offset_is_understood(alice_client, alice_provider):
    local = (timezone.now() + datetime.timedelta(days=1)).astimezone(
        datetime.timezone(datetime.timedelta(hours=1))
    )
    data = send(alice_client, send_at=local.isoformat(timespec="seconds")).json()["data"]
    assert data["send_at"] == iso(local)


@pytest.mark.parametrize(
    "value",
    [
        "2026-12-01T09:00:00",  # no zone
        "2026-12-01",
        "tomorrow",
        "",
        1733040000,
        None,
    ],
)
def test_a_send_at_without_a_zone_or_not_a_date_is_refused(
    alice_client, alice_provider, smtp_server, value
):
    response = send(alice_client, send_at=value)
    assert response.status_code == 400
    assert list(response.json()["error"]["details"]) == ["send_at"]
    assert not Message.objects.exists() and smtp_server.messages == []


def test_more_than_30_days_ahead_is_refused(alice_client, alice_provider, smtp_server):
    response = send(alice_client, send_at=iso(timezone.now() + datetime.timedelta(days=31)))
    assert response.status_code == 400
    assert list(response.json()["error"]["details"]) == ["send_at"]
    assert "30 days" in response.json()["error"]["message"]
    assert not Message.objects.exists()
    far = send(alice_client, send_at="9999-12-31T23:59:59+00:00")
    assert list(far.json()["error"]["details"]) == ["send_at"]


def test_the_limit_follows_the_setting(alice_client, alice_provider, settings):
    settings.MAILPASS_MAX_SCHEDULE_DAYS = 60
    response = send(alice_client, send_at=iso(timezone.now() + datetime.timedelta(days=45)))
    assert response.json()["data"]["status"] == "scheduled"


def test_a_scheduled_send_is_checked_now(alice_client, smtp_server):
    # No provider: the same 422 as an immediate send, nothing stored.
    response = send(alice_client, send_at=iso(timezone.now() + datetime.timedelta(hours=1)))
    assert response.status_code == 422
    assert not Message.objects.exists()


def test_batch_items_and_the_batch_default_schedule(alice_client, alice_provider, smtp_server):
    later = iso(timezone.now() + datetime.timedelta(hours=3))
    own = iso(timezone.now() + datetime.timedelta(hours=5))
    body = {
        "send_at": later,
        "messages": [
            {"to": "a@example.com", "subject": "a", "text": "a"},
            {"to": "b@example.com", "subject": "b", "text": "b", "send_at": own},
            {"to": "c@example.com", "subject": "c", "text": "c", "send_at": "2026-12-01T09:00"},
        ],
    }
    response = alice_client.post("/api/v1/mail/send-batch", body, format="json")
    data = response.json()["data"]
    assert [m["status"] for m in data["messages"]] == ["scheduled", "scheduled", "failed"]
    assert [m.get("send_at") for m in data["messages"][:2]] == [later, own]
    assert list(data["messages"][2]["error"]["details"]) == ["send_at"]
    assert set(Message.objects.values_list("status", flat=True)) == {"scheduled"}
    assert queue_drain().total == 0


def test_a_batch_default_send_at_without_a_zone_fails_the_whole_request(
    alice_client, alice_provider
):
    body = {"send_at": "2026-12-01T09:00:00", "messages": [{"to": "a@example.com"}]}
    response = alice_client.post("/api/v1/mail/send-batch", body, format="json")
    assert response.status_code == 400
    assert list(response.json()["error"]["details"]) == ["send_at"]


def test_a_test_key_schedules_too_and_is_marked_sent_without_smtp(
    alice, alice_provider, smtp_server
):
    from rest_framework.test import APIClient

    from tests.factories import api_key_for

    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {api_key_for(alice, is_test=True)}")
    data = send(client, send_at=iso(timezone.now() + datetime.timedelta(hours=1))).json()["data"]
    assert data["status"] == "scheduled"
    QueueItem.objects.update(next_attempt_at=timezone.now())
    queue_drain()
    assert Message.objects.get().status == "sent"
    assert smtp_server.messages == []


def test_an_idempotent_scheduled_send_is_stored_once_and_replayed(alice_client, alice_provider):
    body = {
        "to": "user@example.com",
        "subject": "Reminder",
        "text": "t",
        "send_at": iso(timezone.now() + datetime.timedelta(hours=1)),
    }
    first, second = (
        alice_client.post("/api/v1/mail/send", body, format="json", HTTP_IDEMPOTENCY_KEY="k1")
        for _ in range(2)
    )
    assert first.status_code == second.status_code == 200
    assert first.json() == second.json()
    assert first.json()["data"]["status"] == "scheduled"
    assert Message.objects.count() == 1


def test_a_suppressed_to_is_refused_when_scheduling(alice, alice_client, alice_provider):
    from suppressions.services import suppression_add

    suppression_add(account=alice, email="user@example.com", reason="manual")
    response = send(alice_client, send_at=iso(timezone.now() + datetime.timedelta(hours=1)))
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "RECIPIENT_SUPPRESSED"
    assert not Message.objects.exists()
