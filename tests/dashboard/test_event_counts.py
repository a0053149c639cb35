"""The counters behind the dashboard follow the events, by every path that writes them."""

import pytest

from dashboard.models import EventCount, ProviderHealth
from mail.models import EventType, MessageEvent
from tests.factories import MessageFactory


def totals(account) -> dict[str, int]:
    result: dict[str, int] = {}
    for row in EventCount.objects.filter(account=account):
        result[row.event_type] = result.get(row.event_type, 0) + row.count
    return result


@pytest.mark.django_db
def test_a_send_through_the_api_counts_one_sent(alice, alice_client, alice_provider):
    response = alice_client.post(
        "/api/v1/mail/send",
        {"to": "user@example.com", "subject": "Hi", "text": "x"},
        format="json",
    )

    assert response.status_code == 200
    assert totals(alice) == {"sent": 1}
    assert {row.provider_id for row in EventCount.objects.filter(account=alice)} == {
        alice_provider.pk
    }


@pytest.mark.django_db
def test_opens_and_clicks_count_messages_not_events(alice):
    message = MessageFactory(account=alice)
    other = MessageFactory(account=alice)
    for _ in range(3):
        MessageEvent.objects.create(message=message, event_type=EventType.OPEN)
    MessageEvent.objects.create(message=other, event_type=EventType.OPEN)
    MessageEvent.objects.create(message=message, event_type=EventType.CLICK, url="https://a")
    MessageEvent.objects.create(message=message, event_type=EventType.CLICK, url="https://b")

    assert totals(alice) == {"open": 2, "click": 1}


@pytest.mark.django_db
def test_test_key_messages_are_not_counted(alice):
    message = MessageFactory(account=alice, is_test=True)
    MessageEvent.objects.create(message=message, event_type=EventType.SENT)

    assert totals(alice) == {}


@pytest.mark.django_db
def test_each_account_counts_only_its_own_events(alice, bob):
    MessageEvent.objects.create(message=MessageFactory(account=alice), event_type=EventType.SENT)
    MessageEvent.objects.create(message=MessageFactory(account=bob), event_type=EventType.BOUNCED)

    assert totals(alice) == {"sent": 1}
    assert totals(bob) == {"bounced": 1}


@pytest.mark.django_db
def test_a_failed_send_is_the_providers_last_problem(
    alice, alice_client, alice_provider, smtp_server
):
    smtp_server.behaviour.rcpt_replies["gone@example.com"] = "550 5.7.1 Rejected"

    response = alice_client.post(
        "/api/v1/mail/send",
        {"to": "gone@example.com", "subject": "Hi", "text": "x"},
        format="json",
    )

    assert response.status_code == 500
    health = ProviderHealth.objects.get(provider=alice_provider)
    assert health.last_problem_kind == "failed"
    assert "550 5.7.1 Rejected" in health.last_problem_detail
    assert totals(alice) == {"failed": 1}


@pytest.mark.django_db(transaction=True)
def test_a_rolled_back_event_is_not_counted(alice):
    from django.db import transaction

    message = MessageFactory(account=alice)
    with pytest.raises(RuntimeError), transaction.atomic():
        MessageEvent.objects.create(message=message, event_type=EventType.SENT)
        raise RuntimeError("rollback")

    assert totals(alice) == {}
