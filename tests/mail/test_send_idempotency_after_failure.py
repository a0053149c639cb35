"""Idempotency-Key after a failure past SMTP: never a second delivery (issue 9, defect 5).

Once the message row exists, a retry with the key answers from the stored message (its
current status), even if the first request died after the server accepted the mail.
"""

from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from mail.idempotency import idempotency_request_hash
from mail.models import IdempotencyRecord, Message
from tests.factories import MessageFactory

BODY = {"to": "user@example.com", "subject": "Hello", "html": "<p>Hello World</p>"}

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def sent_update_breaks():
    """The database refuses every 'sent' update of a message (a real error, from PostgreSQL)."""
    if connection.vendor != "postgresql":
        pytest.skip("the failing update is a PostgreSQL trigger")
    with connection.cursor() as cursor:
        cursor.execute(
            """
            CREATE FUNCTION mp_test_refuse_sent() RETURNS trigger AS $$
            BEGIN
                IF NEW.status = 'sent' THEN RAISE EXCEPTION 'disk full'; END IF;
                RETURN NEW;
            END $$ LANGUAGE plpgsql;
            CREATE TRIGGER mp_test_refuse_sent BEFORE UPDATE ON mail_message
            FOR EACH ROW EXECUTE FUNCTION mp_test_refuse_sent();
            """
        )

    def repair() -> None:
        with connection.cursor() as cursor:
            cursor.execute(
                "DROP TRIGGER IF EXISTS mp_test_refuse_sent ON mail_message;"
                "DROP FUNCTION IF EXISTS mp_test_refuse_sent();"
            )

    yield repair
    repair()


def _send(client):
    return client.post(
        "/api/v1/mail/send", BODY, format="json", headers={"Idempotency-Key": "order-1"}
    )


def test_a_retry_after_the_sent_update_failed_never_sends_again(
    alice_client, alice_provider, smtp_server, sent_update_breaks
):
    alice_client.raise_request_exception = False
    first = _send(alice_client)
    assert first.status_code >= 500
    assert len(smtp_server.messages) == 1  # the server accepted it
    sent_update_breaks()

    retry = _send(alice_client)

    assert retry.status_code == 200
    [message] = Message.objects.all()
    assert retry.json()["data"]["message_id"] == message.message_id
    assert retry.json()["data"]["status"] == message.status == "sending"
    assert len(smtp_server.messages) == 1


def test_a_request_that_died_after_storing_its_message_is_never_taken_over(
    alice_client, alice_provider, smtp_server, sent_update_breaks
):
    alice_client.raise_request_exception = False
    _send(alice_client)
    sent_update_breaks()
    # Long after: a claim without an answer would count as abandoned by now.
    IdempotencyRecord.objects.update(created_at=timezone.now() - timedelta(minutes=30))

    retry = _send(alice_client)

    assert retry.status_code == 200
    assert Message.objects.count() == 1
    assert len(smtp_server.messages) == 1


def test_a_request_killed_after_storing_its_message_is_answered_from_it_not_resent(
    alice, alice_client, alice_provider, smtp_server
):
    # What a worker killed mid-SMTP leaves: its claim, bound to its message, no answer.
    message = MessageFactory(account=alice, provider=alice_provider, status="sending")
    IdempotencyRecord.objects.create(
        account=alice,
        key="order-1",
        request_hash=idempotency_request_hash(scope="/api/v1/mail/send", payload=BODY),
        message=message,
    )
    assert _send(alice_client).status_code == 409  # as far as we know, still running
    IdempotencyRecord.objects.update(created_at=timezone.now() - timedelta(minutes=30))

    retry = _send(alice_client)

    assert retry.status_code == 200
    assert retry.json()["data"]["message_id"] == message.message_id
    assert smtp_server.messages == []
    assert Message.objects.count() == 1
