"""POST /send and the suppression list (API.md s.15): a suppressed `to` is refused before
anything is stored or sent; suppressed cc/bcc are dropped and listed in data.suppressed."""

import pytest

from mail.models import Message
from suppressions.services import suppression_add
from tests.factories import SmtpProviderFactory, api_key_for

pytestmark = pytest.mark.django_db

BODY = {"to": "user@example.com", "subject": "Hello", "text": "Hi"}


def send(client, body, **headers):
    return client.post("/api/v1/mail/send", body, format="json", headers=headers)


def test_a_suppressed_to_is_422_and_nothing_is_stored_or_sent(
    alice_client, alice_provider, alice, smtp_server
):
    entry = suppression_add(account=alice, email="USER@example.com", reason="hard_bounce")
    answer = send(alice_client, {**BODY, "to": "User@Example.com"})
    assert answer.status_code == 422
    error = answer.json()["error"]
    assert error["code"] == "RECIPIENT_SUPPRESSED"
    assert error["details"] == {
        "to": "User@Example.com",
        "reason": "hard_bounce",
        "suppressed_at": entry.created_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
    }
    assert not Message.objects.exists()
    assert smtp_server.messages == []


def test_a_refused_send_takes_no_send_limit_slot(alice_client, alice, smtp_server):
    SmtpProviderFactory(account=alice, host=smtp_server.host, port=smtp_server.port, hourly_limit=1)
    suppression_add(account=alice, email="gone@example.com", reason="complaint")
    for _ in range(3):
        assert send(alice_client, {**BODY, "to": "gone@example.com"}).status_code == 422
    assert send(alice_client, BODY).status_code == 200
    assert send(alice_client, BODY).status_code == 429


def test_suppressed_cc_and_bcc_are_dropped_and_listed(
    alice_client, alice_provider, alice, smtp_server
):
    suppression_add(account=alice, email="cc-gone@example.com", reason="hard_bounce")
    suppression_add(account=alice, email="bcc-gone@example.com", reason="unsubscribe")
    answer = send(
        alice_client,
        {
            **BODY,
            "cc": ["CC-Gone@example.com", "cc-ok@example.com"],
            "bcc": ["bcc-ok@example.com", "bcc-gone@example.com"],
        },
    )
    assert answer.status_code == 200, answer.json()
    data = answer.json()["data"]
    assert data["status"] == "sent"
    assert data["suppressed"] == ["CC-Gone@example.com", "bcc-gone@example.com"]
    (received,) = smtp_server.messages
    assert sorted(received.rcpt_tos) == [
        "bcc-ok@example.com",
        "cc-ok@example.com",
        "user@example.com",
    ]
    assert received.parsed["Cc"] == "cc-ok@example.com"
    message = Message.objects.get()
    assert (message.cc, message.bcc) == (["cc-ok@example.com"], ["bcc-ok@example.com"])
    assert message.suppressed == ["CC-Gone@example.com", "bcc-gone@example.com"]
    status = alice_client.get(f"/api/v1/mail/status/{data['message_id']}").json()["data"]
    assert status["message"]["suppressed"] == ["CC-Gone@example.com", "bcc-gone@example.com"]


def test_data_suppressed_is_always_present(alice_client, alice_provider):
    answer = send(alice_client, BODY)
    assert answer.json()["data"]["suppressed"] == []


def test_a_test_key_is_answered_like_a_live_key(alice, alice_provider, api_client):
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {api_key_for(alice, is_test=True)}")
    suppression_add(account=alice, email="gone@example.com", reason="manual")
    assert send(api_client, {**BODY, "to": "gone@example.com"}).json()["error"]["code"] == (
        "RECIPIENT_SUPPRESSED"
    )
    answer = send(api_client, {**BODY, "cc": ["gone@example.com"]})
    assert answer.json()["data"]["suppressed"] == ["gone@example.com"]


def test_another_accounts_list_does_not_apply(alice_client, alice_provider, bob, smtp_server):
    suppression_add(account=bob, email="user@example.com", reason="complaint")
    assert (
        send(alice_client, {**BODY, "cc": ["user@example.com"]}).json()["data"]["suppressed"] == []
    )
    assert len(smtp_server.messages) == 1


def test_a_422_is_not_kept_for_the_idempotency_key(
    alice_client, alice_provider, alice, smtp_server
):
    suppression_add(account=alice, email="user@example.com", reason="manual")
    assert send(alice_client, BODY, **{"Idempotency-Key": "k1"}).status_code == 422
    alice_client.delete("/api/v1/suppressions/user@example.com")  # mail-only key: 403, no matter
    from suppressions.models import Suppression

    Suppression.objects.all().delete()
    first = send(alice_client, BODY, **{"Idempotency-Key": "k1"})
    assert first.status_code == 200
    again = send(alice_client, BODY, **{"Idempotency-Key": "k1"})
    assert again.json() == first.json()
    assert len(smtp_server.messages) == 1


def test_the_check_is_one_query_whatever_the_list_holds(alice_client, alice_provider, alice):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    send(alice_client, BODY)  # the key's first use of the minute is written once
    with CaptureQueriesContext(connection) as empty:
        send(alice_client, BODY)
    for n in range(50):
        suppression_add(account=alice, email=f"x{n}@example.com", reason="manual")
    with CaptureQueriesContext(connection) as full:
        send(alice_client, {**BODY, "cc": [f"c{n}@example.com" for n in range(10)]})
    lookups = [q["sql"] for q in full.captured_queries if "suppressions_suppression" in q["sql"]]
    assert len(lookups) == 1
    assert len(full.captured_queries) == len(empty.captured_queries)


def test_a_suppressed_to_is_422_even_when_the_send_limit_is_reached(
    alice_client, alice, smtp_server
):
    """The check comes before the window is counted: the caller learns the lasting reason."""
    SmtpProviderFactory(account=alice, host=smtp_server.host, port=smtp_server.port, hourly_limit=1)
    assert send(alice_client, BODY).status_code == 200
    suppression_add(account=alice, email="gone@example.com", reason="complaint")
    assert send(alice_client, {**BODY, "to": "gone@example.com"}).status_code == 422


def test_a_suppressed_to_with_an_idempotency_key_stores_nothing_and_keeps_no_claim(
    alice_client, alice_provider, alice, smtp_server
):
    """The check inside the INSERT (no limits): nothing written, the key free for a retry."""
    from mail.models import IdempotencyRecord

    suppression_add(account=alice, email="gone@example.com", reason="complaint")
    body = {**BODY, "to": "gone@example.com", "cc": ["ok@example.com"]}
    assert send(alice_client, body, **{"Idempotency-Key": "k1"}).status_code == 422
    assert not Message.objects.exists()
    assert not IdempotencyRecord.objects.exists()
    assert smtp_server.messages == []
