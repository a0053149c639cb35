"""POST /api/v1/mail/cancel/{message_id} (API.md s.14)."""

import datetime
from urllib.parse import quote

import pytest
from django.utils import timezone

from mail.models import Message, MessageEvent, QueueItem
from mail.queue import queue_drain
from tests.factories import MessageFactory, api_key_for

pytestmark = pytest.mark.django_db


def schedule(client, **fields) -> str:
    send_at = (timezone.now() + datetime.timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    body = {"to": "user@example.com", "subject": "s", "text": "t", "send_at": send_at, **fields}
    response = client.post("/api/v1/mail/send", body, format="json")
    assert response.json()["data"]["status"] == "scheduled"
    return response.json()["data"]["message_id"]


def cancel(client, message_id: str):
    return client.post(f"/api/v1/mail/cancel/{message_id}")


def test_a_scheduled_message_is_canceled_and_never_sent(alice_client, alice_provider, smtp_server):
    message_id = schedule(alice_client)
    response = cancel(alice_client, message_id)
    assert response.status_code == 200
    assert response.json()["data"] == {"message_id": message_id, "status": "canceled"}
    message = Message.objects.get(message_id=message_id)
    assert message.status == "canceled"
    assert QueueItem.objects.get(message=message).status == "canceled"
    assert list(message.events.values_list("event_type", flat=True)) == ["scheduled", "canceled"]
    QueueItem.objects.update(next_attempt_at=timezone.now() - datetime.timedelta(minutes=1))
    assert queue_drain().total == 0
    assert smtp_server.messages == []


def test_a_queued_batch_message_is_canceled(alice_client, alice_provider, smtp_server):
    body = {"messages": [{"to": "a@example.com", "subject": "s", "text": "t"}]}
    message_id = alice_client.post("/api/v1/mail/send-batch", body, format="json").json()["data"][
        "messages"
    ][0]["message_id"]
    assert cancel(alice_client, message_id).status_code == 200
    assert queue_drain().total == 0
    assert smtp_server.messages == []
    status = alice_client.get(f"/api/v1/mail/status/{message_id}").json()["data"]
    assert status["message"]["status"] == "canceled"
    assert [e["event_type"] for e in status["events"]] == ["queued", "canceled"]


def test_canceling_twice_answers_the_same(alice_client, alice_provider):
    message_id = schedule(alice_client)
    first, second = cancel(alice_client, message_id), cancel(alice_client, message_id)
    assert first.status_code == second.status_code == 200
    assert first.json() == second.json()
    assert MessageEvent.objects.filter(event_type="canceled").count() == 1


@pytest.mark.parametrize("form", ["bare", "bracketed", "encoded"])
def test_the_id_may_be_given_in_any_form_of_status(alice_client, alice_provider, form):
    message_id = schedule(alice_client)
    written = {
        "bare": message_id.strip("<>"),
        "bracketed": message_id,
        "encoded": quote(message_id, safe=""),
    }[form]
    assert cancel(alice_client, written).status_code == 200
    assert Message.objects.get().status == "canceled"


@pytest.mark.parametrize("status", ["sent", "sending", "failed", "delivered", "bounced"])
def test_a_message_past_scheduled_or_queued_is_not_cancelable(alice, alice_client, status):
    message = MessageFactory(account=alice, status=status)
    response = cancel(alice_client, message.message_id)
    assert response.status_code == 409
    error = response.json()["error"]
    assert (error["code"], error["details"]) == ("NOT_CANCELABLE", {"status": status})
    message.refresh_from_db()
    assert message.status == status
    assert not message.events.exists()


def test_cancel_of_a_sent_message_sends_nothing_more_and_changes_nothing(
    alice_client, alice_provider, smtp_server
):
    body = {"to": "user@example.com", "subject": "s", "text": "t"}
    message_id = alice_client.post("/api/v1/mail/send", body, format="json").json()["data"][
        "message_id"
    ]
    response = cancel(alice_client, message_id)
    assert response.status_code == 409
    assert response.json()["error"]["details"] == {"status": "sent"}
    assert len(smtp_server.messages) == 1


def test_another_accounts_message_is_404_and_stays_scheduled(
    alice_client, alice_provider, bob, smtp_server
):
    message_id = schedule(alice_client)
    from rest_framework.test import APIClient

    bob_client = APIClient()
    bob_client.credentials(HTTP_AUTHORIZATION=f"Bearer {api_key_for(bob)}")
    response = cancel(bob_client, message_id)
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "NOT_FOUND"
    assert Message.objects.get().status == "scheduled"


def test_an_unknown_id_is_404(alice_client):
    assert cancel(alice_client, "<nope@mailpass.im>").status_code == 404


def test_cancel_needs_the_mail_permission(alice, alice_client, alice_provider):
    from rest_framework.test import APIClient

    message_id = schedule(alice_client)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {api_key_for(alice, permissions=['templates'])}")
    assert cancel(client, message_id).status_code == 403
    assert Message.objects.get().status == "scheduled"


def test_cancel_takes_only_post(alice_client, alice_provider):
    message_id = schedule(alice_client)
    assert alice_client.get(f"/api/v1/mail/cancel/{message_id}").status_code == 405
