"""Idempotency-Key on POST /send (API.md section 3): replay, conflict, what is stored, and two
concurrent requests with one key."""

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
from django.db import connection
from rest_framework.test import APIClient

from mail.idempotency import idempotency_request_hash
from mail.models import IdempotencyRecord, Message
from tests.factories import SmtpProviderFactory, api_key_for

BODY = {"to": "user@example.com", "subject": "Hello", "html": "<p>Hello World</p>"}


def send(client, body=BODY, key="order-12345"):
    return client.post("/api/v1/mail/send", body, format="json", headers={"Idempotency-Key": key})


@pytest.mark.django_db
def test_a_replay_returns_the_first_answer_and_sends_nothing(
    alice_client, alice_provider, smtp_server
):
    first = send(alice_client)
    again = send(alice_client)

    assert first.status_code == again.status_code == 200
    assert again.json() == first.json()
    assert len(smtp_server.messages) == 1
    assert Message.objects.count() == 1


@pytest.mark.django_db
def test_key_order_and_spacing_of_the_body_do_not_matter(alice_client, alice_provider, smtp_server):
    first = send(alice_client)
    reordered = '{"html":"<p>Hello World</p>",  "subject":"Hello","to":"user@example.com"}'
    again = alice_client.post(
        "/api/v1/mail/send",
        reordered,
        content_type="application/json",
        headers={"Idempotency-Key": "order-12345"},
    )

    assert again.json() == first.json()
    assert len(smtp_server.messages) == 1


@pytest.mark.django_db
def test_the_same_key_with_another_body_is_a_conflict(alice_client, alice_provider, smtp_server):
    send(alice_client)

    response = send(alice_client, {**BODY, "subject": "Another"})

    assert response.status_code == 409
    assert response.json()["error"]["code"] == "IDEMPOTENCY_CONFLICT"
    assert len(smtp_server.messages) == 1


@pytest.mark.django_db
def test_a_send_failed_answer_is_replayed_without_a_new_attempt(
    alice_client, alice_provider, smtp_server
):
    smtp_server.behaviour.data_replies = ["554 5.7.1 Rejected"]
    first = send(alice_client)
    again = send(alice_client)

    assert first.status_code == again.status_code == 500
    assert again.json() == first.json()
    assert again.json()["error"]["details"]["message_id"]
    assert Message.objects.count() == 1
    assert smtp_server.rejected == 1 and smtp_server.messages == []


@pytest.mark.django_db
def test_a_validation_error_is_not_stored(alice_client, alice_provider, smtp_server):
    assert send(alice_client, {**BODY, "to": "bad"}).status_code == 400

    assert send(alice_client).status_code == 200
    assert len(smtp_server.messages) == 1


@pytest.mark.django_db
def test_a_no_provider_answer_is_not_stored(alice, alice_client, smtp_server):
    assert send(alice_client).status_code == 422
    SmtpProviderFactory(account=alice, host=smtp_server.host, port=smtp_server.port)

    assert send(alice_client).status_code == 200


@pytest.mark.django_db
def test_a_send_limit_answer_is_not_stored(alice_client, alice_provider, smtp_server):
    alice_provider.hourly_limit = 1
    alice_provider.save()
    assert send(alice_client, key="first").status_code == 200
    assert send(alice_client, key="second").status_code == 429
    alice_provider.hourly_limit = 2
    alice_provider.save()

    assert send(alice_client, key="second").status_code == 200
    assert len(smtp_server.messages) == 2


@pytest.mark.django_db
@pytest.mark.parametrize("key", ["", "k" * 256])
def test_a_key_outside_1_to_255_chars_is_a_validation_error(alice_client, alice_provider, key):
    response = send(alice_client, key=key)

    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "VALIDATION_ERROR"
    assert "Idempotency-Key" in error["details"]
    assert not Message.objects.exists()


@pytest.mark.django_db
def test_a_255_char_key_works(alice_client, alice_provider):
    assert send(alice_client, key="k" * 255).status_code == 200


@pytest.mark.django_db
def test_keys_are_scoped_to_the_account(alice_client, alice_provider, bob, smtp_server):
    SmtpProviderFactory(account=bob, host=smtp_server.host, port=smtp_server.port)
    bob_client = APIClient()
    bob_client.credentials(HTTP_AUTHORIZATION=f"Bearer {api_key_for(bob)}")
    send(alice_client)

    response = send(bob_client, {**BODY, "subject": "Bob's"})

    assert response.status_code == 200
    assert len(smtp_server.messages) == 2


@pytest.mark.django_db
def test_an_expired_key_runs_again(alice_client, alice_provider, smtp_server, settings):
    first = send(alice_client)
    record = IdempotencyRecord.objects.get()
    IdempotencyRecord.objects.filter(pk=record.pk).update(
        created_at=record.created_at
        - timedelta(hours=settings.MAILPASS_IDEMPOTENCY_TTL_HOURS, seconds=1)
    )

    again = send(alice_client, {**BODY, "subject": "Later"})

    assert again.status_code == 200
    assert again.json()["data"]["message_id"] != first.json()["data"]["message_id"]
    assert len(smtp_server.messages) == 2


@pytest.mark.django_db
def test_requests_without_a_key_store_no_record(alice_client, alice_provider):
    alice_client.post("/api/v1/mail/send", BODY, format="json")

    assert not IdempotencyRecord.objects.exists()


def test_the_endpoint_is_part_of_the_hash():
    send_hash = idempotency_request_hash(scope="/api/v1/mail/send", payload=BODY)
    batch_hash = idempotency_request_hash(scope="/api/v1/mail/send-batch", payload=BODY)

    assert send_hash != batch_hash


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("requests", [2, 8])
def test_concurrent_requests_with_one_key_send_once(
    alice_key, alice_provider, smtp_server, requests
):
    """All read "no record" with their API key at about the same time, so all defer the claim
    to their INSERT: one INSERT wins, the others fail on the unique key and answer 409."""
    smtp_server.behaviour.data_delay = 1.0  # the first request is still sending
    start = threading.Barrier(requests)

    def one_request(_):
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {alice_key}")
        try:
            start.wait(timeout=10)
            return send(client)
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=requests) as pool:
        responses = list(pool.map(one_request, range(requests)))

    statuses = sorted(r.status_code for r in responses)
    assert statuses == [200] + [409] * (requests - 1), [r.json() for r in responses]
    conflict = next(r for r in responses if r.status_code == 409)
    assert conflict.json()["error"]["details"]["in_progress"] is True
    assert conflict["Retry-After"] == "1"
    assert len(smtp_server.messages) == 1
    assert Message.objects.count() == 1

    # Once the first has answered, the key replays its answer.
    time.sleep(0.1)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {alice_key}")
    winner = next(r for r in responses if r.status_code == 200)
    assert send(client).json() == winner.json()


@pytest.mark.django_db
def test_a_claim_abandoned_by_a_dead_request_is_taken_over(alice, alice_client, alice_provider):
    IdempotencyRecord.objects.create(
        account=alice,
        key="order-12345",
        request_hash=idempotency_request_hash(scope="/api/v1/mail/send", payload=BODY),
    )
    assert send(alice_client).status_code == 409  # still in progress, as far as we know
    IdempotencyRecord.objects.update(
        created_at=IdempotencyRecord.objects.get().created_at - timedelta(minutes=11)
    )

    assert send(alice_client).status_code == 200


@pytest.mark.django_db
def test_the_answer_is_stored_with_the_sent_update(alice_client, alice_provider, smtp_server):
    """On PostgreSQL the key's answer rides on the ``sent`` statement: no UPDATE of its own
    after it, and the stored answer is the one the caller got."""
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as queries:
        first = send(alice_client)

    record = IdempotencyRecord.objects.get()
    assert (record.response_status, record.response_body) == (200, first.json())
    if connection.vendor == "postgresql":
        answer_updates = [q["sql"] for q in queries if "SET response_status" in q["sql"]]
        assert len(answer_updates) == 1 and "WITH sent AS" in answer_updates[0]
    assert send(alice_client).json() == first.json()


@pytest.mark.django_db
def test_a_send_limit_answer_keeps_no_bound_message(alice_client, alice_provider, smtp_server):
    """The row is written and the key bound before the provider's lock; a full window rolls
    both back, so a retry with the same key may run once the window frees."""
    alice_provider.hourly_limit = 1
    alice_provider.save()
    assert send(alice_client, key="first").status_code == 200

    response = send(alice_client, {**BODY, "subject": "Second"}, key="second")

    assert response.status_code == 429
    assert Message.objects.count() == 1
    assert not IdempotencyRecord.objects.filter(key="second").exists()


@pytest.mark.django_db
def test_a_new_key_is_claimed_by_the_insert_that_stores_the_message(
    alice_client, alice_provider, smtp_server
):
    """On PostgreSQL a keyed send without limits reads the key's record with the API key,
    then claims the key in the statement that writes its row: no statement of its own for
    the claim or the binding, and the record names the message and holds the answer."""
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as queries:
        response = send(alice_client)
    assert response.status_code == 200

    record = IdempotencyRecord.objects.get()
    assert record.message_id == Message.objects.get().pk
    assert (record.response_status, record.response_body) == (200, response.json())
    if connection.vendor == "postgresql":
        touching = [q["sql"] for q in queries if "mail_idempotencyrecord" in q["sql"]]
        assert len(touching) == 3, touching
        assert "LEFT JOIN" in touching[0] and touching[0].startswith("SELECT")
        assert touching[1].startswith("WITH inserted AS (INSERT INTO")
        assert "INSERT INTO mail_idempotencyrecord" in touching[1]
        assert "SET response_status" in touching[2]


@pytest.mark.django_db(transaction=True)  # the losing INSERT fails as in autocommit
@pytest.mark.parametrize("path", ["send", "send with limits", "batch"])
def test_a_key_claimed_by_another_request_after_the_authentication_read_stores_nothing(
    alice_client, alice_provider, smtp_server, monkeypatch, path
):
    """The race the deferred claim must survive: the record is absent when the key is read
    with the API key, and a request with the same key claims it before this one's first
    write. That write then stores nothing, and this request answers as any later duplicate:
    409 while the other runs."""
    import mail.idempotency

    if path == "send with limits":
        alice_provider.hourly_limit = 100
        alice_provider.save()
    real_respond_bound = mail.idempotency._respond_bound

    def claimed_meanwhile(binding, respond):
        if binding.deferred is not None:
            mail.idempotency._claim(
                account_id=binding.deferred.account_id,
                key=binding.deferred.key,
                request_hash=binding.deferred.request_hash,
            )
        return real_respond_bound(binding, respond)

    monkeypatch.setattr(mail.idempotency, "_respond_bound", claimed_meanwhile)
    if path == "batch":
        response = alice_client.post(
            "/api/v1/mail/send-batch",
            {"messages": [BODY]},
            format="json",
            HTTP_IDEMPOTENCY_KEY="order-12345",
        )
    else:
        response = send(alice_client)

    assert response.status_code == 409
    assert response.json()["error"]["details"]["in_progress"] is True
    assert Message.objects.count() == 0
    assert len(smtp_server.messages) == 0
    assert IdempotencyRecord.objects.count() == 1
