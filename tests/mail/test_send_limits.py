"""Provider send limits on POST /send (API.md section 3): hourly and daily windows, the 429
answer, and exact counting under concurrency on PostgreSQL."""

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection, transaction
from django.utils import timezone
from rest_framework.test import APIClient

from mail.limits import send_limit_reserve
from mail.models import Message, MessageStatus
from mailpass.errors import SendLimitExceeded
from tests.factories import MessageFactory

BODY = {"to": "user@example.com", "subject": "Hello", "html": "<p>Hello World</p>"}


def send(client):
    return client.post("/api/v1/mail/send", BODY, format="json")


def stamp(provider, *, ago: timedelta, count: int = 1):
    for _ in range(count):
        MessageFactory(
            account=provider.account, provider=provider, limit_counted_at=timezone.now() - ago
        )


@pytest.mark.django_db
def test_the_429_tells_the_caller_where_it_stands(alice_client, alice_provider, smtp_server):
    alice_provider.hourly_limit = 2
    alice_provider.save()
    stamp(alice_provider, ago=timedelta(minutes=30))
    assert send(alice_client).status_code == 200
    stored = Message.objects.count()

    response = send(alice_client)

    assert response.status_code == 429
    error = response.json()["error"]
    assert error["code"] == "SEND_LIMIT_EXCEEDED"
    details = error["details"]
    assert (details["window"], details["limit"], details["remaining"]) == ("hourly", 2, 0)
    reset_at = datetime.strptime(details["reset_at"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    # The oldest slot (30 minutes old) frees the window in about 30 minutes.
    assert timedelta(minutes=29) < reset_at - timezone.now() < timedelta(minutes=31)
    assert 29 * 60 <= int(response["Retry-After"]) <= 31 * 60
    assert response["RateLimit-Limit"] == "2"
    assert response["RateLimit-Remaining"] == "0"
    assert abs(int(response["RateLimit-Reset"]) - int(response["Retry-After"])) <= 1
    assert Message.objects.count() == stored  # a 429 stores nothing
    assert len(smtp_server.messages) == 1


@pytest.mark.django_db
def test_a_success_carries_the_ratelimit_headers(alice_client, alice_provider):
    alice_provider.hourly_limit = 5
    alice_provider.save()

    response = send(alice_client)

    assert response.status_code == 200
    assert (response["RateLimit-Limit"], response["RateLimit-Remaining"]) == ("5", "4")


@pytest.mark.django_db
def test_slots_older_than_the_window_are_free_again(alice_client, alice_provider):
    alice_provider.hourly_limit = 1
    alice_provider.save()
    stamp(alice_provider, ago=timedelta(minutes=61), count=3)

    assert send(alice_client).status_code == 200


@pytest.mark.django_db
def test_the_daily_window_counts_the_last_24_hours(alice_client, alice_provider):
    alice_provider.hourly_limit, alice_provider.daily_limit = 100, 3
    alice_provider.save()
    stamp(alice_provider, ago=timedelta(hours=5), count=2)
    stamp(alice_provider, ago=timedelta(hours=25), count=5)
    assert send(alice_client).status_code == 200

    response = send(alice_client)

    assert response.status_code == 429
    details = response.json()["error"]["details"]
    assert (details["window"], details["limit"], details["remaining"]) == ("daily", 3, 0)
    assert 18 * 3600 < int(response["Retry-After"]) <= 19 * 3600 + 1


@pytest.mark.django_db
def test_a_failed_send_gives_its_slot_back(alice_client, alice_provider, smtp_server):
    alice_provider.hourly_limit = 1
    alice_provider.save()
    smtp_server.behaviour.data_replies = ["554 5.7.1 Rejected"]

    assert send(alice_client).status_code == 500
    assert send(alice_client).status_code == 200
    assert send(alice_client).status_code == 429


@pytest.mark.django_db
def test_limits_are_per_provider(alice_client, alice_provider, bob, smtp_server):
    alice_provider.hourly_limit = 1
    alice_provider.save()
    other = MessageFactory(account=bob, provider=None, limit_counted_at=timezone.now())
    assert other.pk

    assert send(alice_client).status_code == 200


@pytest.mark.django_db
def test_reserving_several_slots_names_when_enough_are_free(alice_provider):
    alice_provider.hourly_limit = 3
    alice_provider.save()
    stamp(alice_provider, ago=timedelta(minutes=50))
    stamp(alice_provider, ago=timedelta(minutes=40))
    stamp(alice_provider, ago=timedelta(minutes=30))

    with pytest.raises(SendLimitExceeded) as caught, transaction.atomic():
        send_limit_reserve(provider=alice_provider, count=2)

    # Two slots are free once the two oldest expire: the second oldest, in about 20 minutes.
    retry_after = int(caught.value.headers["Retry-After"])
    assert 19 * 60 <= retry_after <= 21 * 60


@pytest.mark.django_db(transaction=True)
def test_reserving_outside_a_transaction_is_a_bug(alice_provider):
    alice_provider.hourly_limit = 3
    alice_provider.save()

    with pytest.raises(RuntimeError):
        send_limit_reserve(provider=alice_provider)


@pytest.mark.django_db(transaction=True)
def test_thirty_concurrent_requests_against_a_limit_of_ten_send_exactly_ten(
    alice_key, alice_provider, smtp_server
):
    if connection.vendor != "postgresql":
        pytest.skip("PostgreSQL-only proof: SQLite serialises writers, nothing runs concurrently")
    alice_provider.hourly_limit = 10
    alice_provider.save()
    start = threading.Barrier(30)

    def one_request(_):
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {alice_key}")
        try:
            start.wait(timeout=30)
            return send(client)
        finally:
            connection.close()  # each thread had its own database connection

    with ThreadPoolExecutor(max_workers=30) as pool:
        responses = list(pool.map(one_request, range(30)))

    statuses = sorted(r.status_code for r in responses)
    assert statuses.count(200) == 10, statuses
    assert statuses.count(429) == 20, statuses
    for response in responses:
        if response.status_code == 429:
            assert response.json()["error"]["details"]["remaining"] == 0
            assert int(response["Retry-After"]) > 0
            assert response["RateLimit-Limit"] == "10"
    assert Message.objects.filter(status=MessageStatus.SENT).count() == 10
    assert Message.objects.count() == 10
    assert len(smtp_server.messages) == 10


@pytest.mark.django_db
def test_when_both_windows_are_full_it_names_the_one_that_frees_last(alice_client, alice_provider):
    alice_provider.hourly_limit, alice_provider.daily_limit = 1, 1
    alice_provider.save()
    stamp(alice_provider, ago=timedelta(minutes=30))

    response = send(alice_client)

    assert response.status_code == 429
    assert response.json()["error"]["details"]["window"] == "daily"
    assert int(response["Retry-After"]) > 23 * 3600
