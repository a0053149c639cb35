"""POST /send-batch and the suppression list: items whose `to` is suppressed fail alone with
RECIPIENT_SUPPRESSED, checked in one query for the whole batch; a scheduled /send too."""

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from mail.models import Message, MessageStatus
from suppressions.services import suppression_add

pytestmark = pytest.mark.django_db


def item(to, **fields):
    return {"to": to, "subject": "Hi", "text": "t", **fields}


def test_suppressed_items_fail_alone_and_the_others_are_queued(
    alice_client, alice_provider, alice, no_kick
):
    suppression_add(account=alice, email="gone@example.com", reason="complaint")
    suppression_add(account=alice, email="cc-gone@example.com", reason="hard_bounce")
    answer = alice_client.post(
        "/api/v1/mail/send-batch",
        {
            "messages": [
                item("a@example.com", cc=["cc-gone@example.com"]),
                item("Gone@Example.com"),
                item("b@example.com"),
            ]
        },
        format="json",
    )
    assert answer.status_code == 200
    data = answer.json()["data"]
    assert (data["total"], data["queued"], data["failed"]) == (3, 2, 1)
    failed = data["messages"][1]
    assert (failed["index"], failed["status"]) == (1, "failed")
    assert failed["error"]["code"] == "RECIPIENT_SUPPRESSED"
    assert failed["error"]["details"]["reason"] == "complaint"
    assert failed["error"]["details"]["to"] == "Gone@Example.com"
    assert sorted(Message.objects.values_list("to_email", flat=True)) == [
        "a@example.com",
        "b@example.com",
    ]
    first = Message.objects.get(to_email="a@example.com")
    assert (first.cc, first.suppressed) == ([], ["cc-gone@example.com"])


def test_the_batch_is_checked_in_one_query(alice_client, alice_provider, alice, no_kick):
    for n in range(20):
        suppression_add(account=alice, email=f"x{n}@example.com", reason="manual")
    with CaptureQueriesContext(connection) as queries:
        answer = alice_client.post(
            "/api/v1/mail/send-batch",
            {"messages": [item(f"u{n}@example.com", cc=[f"x{n}@example.com"]) for n in range(50)]},
            format="json",
        )
    assert answer.json()["data"]["queued"] == 50
    lookups = [q for q in queries.captured_queries if "suppressions_suppression" in q["sql"]]
    assert len(lookups) == 1


def test_a_scheduled_send_to_a_suppressed_address_is_422(alice_client, alice_provider, alice):
    suppression_add(account=alice, email="gone@example.com", reason="manual")
    answer = alice_client.post(
        "/api/v1/mail/send",
        item("gone@example.com", send_at=(timezone.now() + timedelta(days=1)).isoformat()),
        format="json",
    )
    assert answer.status_code == 422
    assert answer.json()["error"]["code"] == "RECIPIENT_SUPPRESSED"
    assert not Message.objects.filter(status=MessageStatus.SCHEDULED).exists()


@pytest.mark.parametrize("suppressed", ["to", "cc", "bcc", None])
def test_a_one_item_batch_is_screened_like_a_longer_one(
    alice_client, alice_provider, alice, no_kick, suppressed
):
    """One item is stored in one statement that carries the suppression check (PostgreSQL):
    the same answers and rows as when it is screened apart."""
    suppression_add(account=alice, email=f"{suppressed}-gone@example.com", reason="manual")
    fields = {
        "to": "to-gone@example.com" if suppressed == "to" else "a@example.com",
        "cc": ["cc-gone@example.com" if suppressed == "cc" else "c@example.com"],
        "bcc": ["bcc-gone@example.com" if suppressed == "bcc" else "b@example.com"],
    }
    answer = alice_client.post(
        "/api/v1/mail/send-batch", {"messages": [item(**fields)]}, format="json"
    )
    assert answer.status_code == 200
    (result,) = answer.json()["data"]["messages"]
    if suppressed == "to":
        assert result["error"]["code"] == "RECIPIENT_SUPPRESSED"
        assert not Message.objects.exists()
        return
    message = Message.objects.get()
    assert (result["status"], result["message_id"]) == ("queued", message.message_id)
    assert result["queue_id"] == message.queue_item.pk
    dropped = [f"{suppressed}-gone@example.com"] if suppressed else []
    assert message.suppressed == dropped
    kept = [a for a in [*fields["cc"], *fields["bcc"]] if a not in dropped]
    assert [*message.cc, *message.bcc] == kept
