"""Idempotency-Key of a batch whose rows committed but whose answer was lost (API.md s.4).

The batch's answer is stored in the transaction that writes its rows, so a retry with the key
after that commit answers from the stored batch and never queues it again, whatever happened
to the first request afterwards.
"""

import pytest

import mail.views
from mail.models import IdempotencyRecord, Message, QueueItem

BATCH = {
    "messages": [
        {"to": "a@example.com", "subject": "Hello A", "text": "Hi A"},
        {"to": "b@example.com", "subject": "Hello B", "text": "Hi B"},
        {"to": "not-an-address", "subject": "Hello C", "text": "Hi C"},
    ]
}

pytestmark = pytest.mark.django_db(transaction=True)


def _send_batch(client, key: str = "batch-1"):
    return client.post(
        "/api/v1/mail/send-batch", BATCH, format="json", headers={"Idempotency-Key": key}
    )


@pytest.fixture
def dies_after_commit(monkeypatch):
    """The request dies right after the batch's transaction committed (a worker killed, a
    database error while answering): the caller never gets the answer."""
    real = mail.views.batch_enqueue

    def enqueue_then_die(**kwargs):
        real(**kwargs)
        raise RuntimeError("worker killed after COMMIT")

    monkeypatch.setattr(mail.views, "batch_enqueue", enqueue_then_die)
    return monkeypatch


def test_a_retry_after_the_batch_committed_answers_from_it_and_queues_nothing(
    alice_client, alice_provider, no_kick, dies_after_commit
):
    alice_client.raise_request_exception = False
    first = _send_batch(alice_client)
    assert first.status_code == 500
    assert QueueItem.objects.count() == 2  # the rows committed
    dies_after_commit.undo()

    retry = _send_batch(alice_client)

    assert retry.status_code == 200
    data = retry.json()["data"]
    assert (data["total"], data["queued"], data["failed"]) == (3, 2, 1)
    assert QueueItem.objects.count() == 2 and Message.objects.count() == 2
    stored = {(item.pk, item.message.message_id) for item in QueueItem.objects.all()}
    answered = {(m["queue_id"], m["message_id"]) for m in data["messages"] if "queue_id" in m}
    assert answered == stored
    assert data["messages"][2]["error"]["code"] == "VALIDATION_ERROR"
    # Replayed again: the same answer, still nothing queued.
    assert _send_batch(alice_client).json() == retry.json()
    assert QueueItem.objects.count() == 2


def test_a_batch_that_rolled_back_leaves_the_key_free_for_a_retry(
    alice_client, alice_provider, no_kick, monkeypatch
):
    """Nothing committed, nothing stored with the key: the retry queues the batch once."""
    real = mail.views.batch_enqueue

    def fail_inside_the_transaction(**kwargs):
        def stored(items):
            raise RuntimeError("database went away before COMMIT")

        return real(**{**kwargs, "on_stored": stored})

    monkeypatch.setattr(mail.views, "batch_enqueue", fail_inside_the_transaction)
    alice_client.raise_request_exception = False
    assert _send_batch(alice_client).status_code == 500
    assert QueueItem.objects.count() == 0
    assert not IdempotencyRecord.objects.exists()
    monkeypatch.undo()

    retry = _send_batch(alice_client)

    assert retry.status_code == 200
    assert retry.json()["data"]["queued"] == 2
    assert QueueItem.objects.count() == 2


def test_a_batch_answer_is_stored_with_its_rows(alice_client, alice_provider, no_kick):
    response = _send_batch(alice_client)

    record = IdempotencyRecord.objects.get(key="batch-1")
    assert (record.response_status, record.response_body) == (200, response.json())
