"""The status lookup costs one query for the message and one for its events, however many."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from mail.models import EventType, MessageEvent
from tests.factories import MessageFactory


def status_queries(client, message_id: str) -> list[str]:
    with CaptureQueriesContext(connection) as captured:
        response = client.get(f"/api/v1/mail/status/{message_id}")
    assert response.status_code == 200
    return [query["sql"] for query in captured.captured_queries]


@pytest.mark.django_db
@pytest.mark.parametrize("event_count", [0, 1, 50])
def test_it_reads_the_message_and_its_events_in_two_queries(
    alice, alice_client, event_count, django_assert_num_queries
):
    message = MessageFactory(account=alice)
    MessageEvent.objects.bulk_create(
        MessageEvent(message=message, event_type=EventType.OPEN, ip_address="10.0.0.1")
        for _ in range(event_count)
    )
    # Authentication costs one query for the key (with its account), plus an UPDATE of
    # last_used_at at most once a minute: the first request pays that, the next ones do not.
    first = status_queries(alice_client, message.message_id)
    assert len(first) == 4
    assert "UPDATE" in first[1] and "accounts_apikey" in first[1]

    with django_assert_num_queries(3):  # 1 for the key + 2 for the status
        response = alice_client.get(f"/api/v1/mail/status/{message.message_id}")
    assert len(response.json()["data"]["events"]) == event_count

    auth, message_query, events_query = status_queries(alice_client, message.message_id)
    assert "accounts_apikey" in auth
    # The message with its queue item (a LEFT JOIN); the ORM's SQL on SQLite, hand-written
    # on PostgreSQL.
    assert "mail_message" in message_query and "LEFT" in message_query
    assert "mail_queueitem" in message_query
    assert '"html"' not in message_query and '"text"' not in message_query  # no bodies
    assert "mail_messageevent" in events_query
