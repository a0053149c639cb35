"""POST /api/v1/mail/send-batch: validation, queueing, answers (API.md section 4)."""

import pytest

from mail.models import Message, MessageEvent, QueueItem
from tests.factories import api_key_for

SEED_BATCH = {
    "messages": [
        {"to": "a@example.com", "subject": "Hello A", "html": "<p>Hi A</p>"},
        {"to": "b@example.com", "subject": "Hello B", "html": "<p>Hi B</p>"},
    ],
    "from_email": "support@yourdomain.com",
    "from_name": "Your App",
}

pytestmark = pytest.mark.django_db


def send_batch(client, body, **headers):
    return client.post("/api/v1/mail/send-batch", body, format="json", headers=headers)


def _item(n: int) -> dict:
    return {"to": f"user{n}@example.com", "subject": f"Hello {n}", "text": "Hi"}


def test_it_queues_the_seed_example(alice_client, alice_provider, smtp_server):
    response = send_batch(alice_client, SEED_BATCH)

    assert response.status_code == 200, response.json()
    data = response.json()["data"]
    assert (data["total"], data["queued"], data["failed"]) == (2, 2, 0)
    assert [m["index"] for m in data["messages"]] == [0, 1]
    assert [m["to"] for m in data["messages"]] == ["a@example.com", "b@example.com"]
    for answer in data["messages"]:
        assert answer["status"] == "queued"
        item = QueueItem.objects.get(pk=answer["queue_id"])
        assert item.message.message_id == answer["message_id"]
        assert item.status == "queued" and item.provider == alice_provider
        assert item.message.status == "queued"
        assert item.message.from_name == "Your App"
        assert list(item.message.events.values_list("event_type", flat=True)) == ["queued"]
    assert smtp_server.messages == []  # the drain runs after COMMIT, see the next test


def test_the_batch_is_sent_right_after_the_request_commits(
    alice_client, alice_provider, smtp_server, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = send_batch(alice_client, SEED_BATCH)

    ids = sorted(m["message_id"] for m in response.json()["data"]["messages"])
    assert sorted(m.message_id for m in smtp_server.messages) == ids
    assert set(Message.objects.values_list("status", flat=True)) == {"sent"}
    received = smtp_server.by_message_id(ids[0])[0].parsed
    assert received["From"] == "Your App <support@yourdomain.com>"


@pytest.mark.parametrize("count", [0, 101])
def test_it_refuses_0_or_more_than_100_messages(alice_client, alice_provider, count):
    response = send_batch(alice_client, {"messages": [_item(n) for n in range(count)]})

    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "VALIDATION_ERROR"
    assert "messages" in error["details"]
    assert Message.objects.count() == 0


def test_it_refuses_an_unknown_top_level_field(alice_client, alice_provider):
    response = send_batch(alice_client, {"messages": [_item(1)], "form_email": "x@example.com"})

    assert response.status_code == 400
    assert response.json()["error"]["details"] == {"form_email": ["Unknown field."]}
    assert Message.objects.count() == 0


def test_it_refuses_a_badly_typed_default(alice_client, alice_provider):
    response = send_batch(alice_client, {"messages": [_item(1)], "track_opens": "yes"})

    assert response.status_code == 400
    assert "track_opens" in response.json()["error"]["details"]


def test_it_queues_valid_items_and_reports_each_invalid_one(alice_client, alice_provider):
    body = {
        "messages": [
            _item(0),
            {"to": "not-an-address", "subject": "x", "text": "y"},
            _item(2),
            {**_item(3), "subjetc": "typo"},
            "not an object",
            {"to": "e@example.com", "subject": 123, "text": "y"},
        ]
    }

    response = send_batch(alice_client, body)

    assert response.status_code == 200
    data = response.json()["data"]
    assert (data["total"], data["queued"], data["failed"]) == (6, 2, 4)
    answers = data["messages"]
    assert [a["index"] for a in answers] == list(range(6))
    assert [a["status"] for a in answers] == [
        "queued",
        "failed",
        "queued",
        "failed",
        "failed",
        "failed",
    ]
    assert answers[1]["to"] == "not-an-address"
    assert answers[1]["error"]["code"] == "VALIDATION_ERROR"
    assert "to" in answers[1]["error"]["details"]
    assert answers[3]["error"]["details"] == {"subjetc": ["Unknown field."]}
    assert answers[4]["to"] is None
    assert "subject" in answers[5]["error"]["details"]
    assert "queue_id" not in answers[1]
    assert Message.objects.count() == 2 == QueueItem.objects.count()
    assert MessageEvent.objects.filter(event_type="queued").count() == 2


def test_top_level_defaults_apply_to_items_that_do_not_set_them(alice_client, alice_provider):
    body = {
        "messages": [
            _item(0),
            {**_item(1), "from_email": "own@example.com", "tags": ["own"], "track_opens": True},
        ],
        "from_email": "batch@example.com",
        "from_name": "Batch Sender",
        "reply_to": "reply@example.com",
        "tags": ["newsletter"],
        "metadata": {"campaign": "nov"},
        "track_opens": False,
        "track_clicks": False,
    }

    response = send_batch(alice_client, body)

    assert response.status_code == 200, response.json()
    first, second = (
        Message.objects.get(message_id=a["message_id"]) for a in response.json()["data"]["messages"]
    )
    assert first.from_email == "batch@example.com"
    assert first.from_name == "Batch Sender"
    assert first.reply_to == "reply@example.com"
    assert first.tags == ["newsletter"]
    assert first.metadata == {"campaign": "nov"}
    assert (first.track_opens, first.track_clicks) == (False, False)
    assert second.from_email == "own@example.com"
    assert second.from_name == "Batch Sender"
    assert second.tags == ["own"]
    assert (second.track_opens, second.track_clicks) == (True, False)


def test_items_without_a_sender_anywhere_fail_alone(alice_client, alice_provider):
    alice_provider.from_email = ""
    alice_provider.save()
    body = {"messages": [_item(0), {**_item(1), "from_email": "me@example.com"}]}

    data = send_batch(alice_client, body).json()["data"]

    assert (data["queued"], data["failed"]) == (1, 1)
    assert "from_email" in data["messages"][0]["error"]["details"]


def test_without_a_default_provider_it_is_422_and_nothing_is_queued(alice_client, alice):
    response = send_batch(alice_client, SEED_BATCH)

    assert response.status_code == 422
    assert response.json()["error"]["code"] == "NO_SMTP_PROVIDER"
    assert Message.objects.count() == 0 == QueueItem.objects.count()


def test_a_replay_with_the_same_key_returns_the_first_answer_and_queues_nothing(
    alice_client, alice_provider
):
    first = send_batch(alice_client, SEED_BATCH, **{"Idempotency-Key": "batch-1"})
    again = send_batch(alice_client, SEED_BATCH, **{"Idempotency-Key": "batch-1"})
    other = send_batch(
        alice_client, {**SEED_BATCH, "from_name": "Else"}, **{"Idempotency-Key": "batch-1"}
    )

    assert again.status_code == 200
    assert again.json() == first.json()
    assert other.status_code == 409
    assert QueueItem.objects.count() == 2


def test_a_test_key_queues_and_the_drain_marks_sent_without_smtp(
    alice, alice_provider, smtp_server, api_client, django_capture_on_commit_callbacks
):
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {api_key_for(alice, is_test=True)}")

    with django_capture_on_commit_callbacks(execute=True):
        response = send_batch(api_client, SEED_BATCH)

    assert response.status_code == 200
    assert smtp_server.messages == []
    for message in Message.objects.all():
        assert message.is_test and message.status == "sent"
        assert message.limit_counted_at is None
        assert list(message.events.values_list("event_type", flat=True)) == ["queued", "sent"]
