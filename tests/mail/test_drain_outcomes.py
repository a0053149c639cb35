"""What one drain run does with queued messages: sent, retried, failed, deferred."""

from datetime import timedelta

import pytest
from django.core.management import call_command
from django.utils import timezone

import mail.queue.send
from mail.models import Message, MessageEvent, QueueItem
from mail.queue import (
    DrainResult,
    OutcomeKind,
    queue_claim,
    queue_drain,
    queue_record,
    queue_requeue,
    retry_delay,
)
from mail.queue.send import outcome_of
from tests.factories import SmtpProviderFactory

pytestmark = pytest.mark.django_db


def _events(message: Message) -> list[str]:
    return list(
        MessageEvent.objects.filter(message_id=message.pk).values_list("event_type", flat=True)
    )


def _make_due() -> None:
    QueueItem.objects.update(next_attempt_at=timezone.now())


def test_it_sends_queued_messages_over_one_connection(
    alice_provider, smtp_server, enqueue, monkeypatch
):
    opened = []
    real_open = mail.queue.send.delivery_open
    monkeypatch.setattr(
        mail.queue.send, "delivery_open", lambda conn: opened.append(1) or real_open(conn)
    )
    messages = enqueue(provider=alice_provider, count=3)

    result = queue_drain()

    assert (result.sent, result.deferred, result.failed) == (3, 0, 0)
    assert len(opened) == 1
    assert sorted(m.message_id for m in smtp_server.messages) == sorted(
        m.message_id for m in messages
    )
    for message in messages:
        message.refresh_from_db()
        assert message.status == "sent"
        assert message.sent_at is not None
        assert message.attempts == 1
        assert message.limit_counted_at is not None
        assert _events(message) == ["queued", "sent"]
        assert message.queue_item.status == "sent"
        assert message.queue_item.locked_by == ""


def test_it_retries_a_451_and_then_sends(alice_provider, smtp_server, enqueue):
    smtp_server.behaviour.data_replies = ["451 4.3.0 Try again later"]
    [message] = enqueue(provider=alice_provider)

    first = queue_drain()

    assert (first.sent, first.deferred, first.failed) == (0, 1, 0)
    message.refresh_from_db()
    item = message.queue_item
    assert message.status == "queued"
    assert item.status == "queued" and item.attempts == 1
    assert item.next_attempt_at > timezone.now() + timedelta(seconds=30)
    assert "451 4.3.0 Try again later" in item.last_error
    deferred = MessageEvent.objects.get(message=message, event_type="deferred")
    assert "451 4.3.0 Try again later" in deferred.detail
    assert queue_drain().total == 0  # not due yet

    _make_due()
    second = queue_drain()

    assert (second.sent, second.deferred, second.failed) == (1, 0, 0)
    message.refresh_from_db()
    assert message.status == "sent" and message.attempts == 2
    assert _events(message) == ["queued", "deferred", "sent"]
    assert [m.message_id for m in smtp_server.messages] == [message.message_id]


def test_it_fails_a_550_at_once_with_the_reply(alice_provider, smtp_server, enqueue):
    smtp_server.behaviour.data_replies = ["550 5.7.1 Message rejected as spam"]
    [message, other] = enqueue(provider=alice_provider, count=2)

    result = queue_drain()

    assert (result.sent, result.deferred, result.failed) == (1, 0, 1)
    message.refresh_from_db()
    assert message.status == "failed"
    assert message.error_message == "550 5.7.1 Message rejected as spam"
    assert message.limit_counted_at is None
    assert message.queue_item.status == "failed"
    assert _events(message) == ["queued", "failed"]
    other.refresh_from_db()
    assert other.status == "sent"  # the connection was reused after the refusal


def test_it_gives_up_after_the_maximum_attempts(alice_provider, smtp_server, enqueue, settings):
    settings.MAILPASS_QUEUE_MAX_ATTEMPTS = 3
    smtp_server.behaviour.data_reply_always = "451 4.3.0 Busy"
    [message] = enqueue(provider=alice_provider)

    outcomes = []
    for _ in range(3):
        _make_due()
        result = queue_drain()
        outcomes.append((result.deferred, result.failed))

    assert outcomes == [(1, 0), (1, 0), (0, 1)]
    message.refresh_from_db()
    assert message.status == "failed" and message.attempts == 3
    assert message.error_message.startswith("gave up after 3 attempts: 451 4.3.0 Busy")


def test_retry_delays_grow_and_span_about_an_hour(settings):
    settings.MAILPASS_QUEUE_RETRY_BASE_SECONDS = 60
    delays = [retry_delay(attempts=n).total_seconds() for n in range(1, 5)]
    assert delays == sorted(delays)
    assert 60 <= delays[0] <= 90
    assert 2400 <= sum(delays) <= 3600


def test_items_wait_while_the_server_is_down_and_go_out_when_it_is_back(
    alice_provider, smtp_server, enqueue
):
    messages = enqueue(provider=alice_provider, count=4)
    smtp_server.stop()

    down = queue_drain()

    assert (down.sent, down.deferred, down.failed) == (0, 4, 0)
    for message in messages:
        message.refresh_from_db()
        assert message.status == "queued"
        assert _events(message) == ["queued", "deferred"]
    assert QueueItem.objects.filter(status="queued", attempts=1).count() == 4

    _make_due()
    assert queue_drain().deferred == 4  # still down: still waiting, nothing failed

    smtp_server.start()
    _make_due()
    back = queue_drain()

    assert (back.sent, back.deferred, back.failed) == (4, 0, 0)
    assert len(smtp_server.messages) == 4
    assert set(Message.objects.values_list("status", flat=True)) == {"sent"}


def test_a_send_limit_defers_and_never_fails(alice, smtp_server, enqueue):
    provider = SmtpProviderFactory(
        account=alice, host=smtp_server.host, port=smtp_server.port, hourly_limit=5
    )
    enqueue(provider=provider, count=12)

    result = queue_drain()

    assert (result.sent, result.deferred, result.failed) == (5, 7, 0)
    assert len(smtp_server.messages) == 5
    assert Message.objects.filter(status="sent").count() == 5
    assert Message.objects.filter(status="queued").count() == 7
    waiting = QueueItem.objects.filter(status="queued")
    assert waiting.count() == 7
    for item in waiting:
        assert item.attempts == 0  # a full window is not an attempt
        assert item.next_attempt_at > timezone.now() + timedelta(minutes=59)
    assert MessageEvent.objects.filter(event_type="deferred").count() == 7
    assert queue_drain().total == 0  # nothing is due before the window frees


def test_a_reconnect_follows_a_dropped_connection(alice_provider, smtp_server, enqueue):
    enqueue(provider=alice_provider, count=2)
    assert queue_drain(limit=1).sent == 1
    smtp_server.restart()  # the server drops every connection
    enqueue(provider=alice_provider, count=3)

    result = queue_drain()

    assert (result.sent, result.failed) == (4, 0)


def test_a_test_key_message_is_marked_sent_without_smtp(alice_provider, smtp_server, enqueue):
    [message] = enqueue(provider=alice_provider, is_test=True)

    assert queue_drain().sent == 1

    message.refresh_from_db()
    assert message.status == "sent" and message.is_test
    assert message.limit_counted_at is None
    assert smtp_server.messages == []


def test_a_worker_that_lost_its_lease_cannot_overwrite_the_result(
    alice_provider, smtp_server, enqueue, settings
):
    [message] = enqueue(provider=alice_provider)
    [stale] = queue_claim(worker_id="dead-worker", size=10)
    QueueItem.objects.update(locked_until=timezone.now() - timedelta(seconds=1))

    result = queue_drain(worker_id="new-worker")  # reclaims the expired lease

    assert result.sent == 1
    # The first worker wakes up and reports a failure: fenced out, nothing changes.
    late = DrainResult()
    queue_record(
        worker_id="dead-worker",
        outcomes=[outcome_of(stale, OutcomeKind.PERMANENT, error="550 late")],
        result=late,
    )
    assert late.total == 0
    message.refresh_from_db()
    assert message.status == "sent" and message.error_message == ""
    assert message.attempts == 2  # the dead worker's attempt counts


def test_requeue_puts_failed_items_back(alice_provider, smtp_server, enqueue):
    smtp_server.behaviour.data_replies = ["550 5.1.1 No such user"]
    [message] = enqueue(provider=alice_provider)
    queue_drain()

    assert queue_requeue(item_ids=[message.queue_item.pk]) == 1

    message.refresh_from_db()
    assert message.status == "queued" and message.attempts == 0
    assert message.queue_item.status == "queued" and message.queue_item.attempts == 0
    assert queue_drain().sent == 1


def test_the_command_drains_once_and_prints_counts(alice_provider, smtp_server, enqueue, capsys):
    enqueue(provider=alice_provider, count=3)

    call_command("process_mail_queue", "--limit", "2")

    assert capsys.readouterr().out.strip() == "sent=2 deferred=0 failed=0 suppressed=0"
    assert Message.objects.filter(status="queued").count() == 1


def test_a_worker_that_lost_its_lease_cannot_mark_the_message_sent(
    alice_provider, smtp_server, enqueue
):
    [message] = enqueue(provider=alice_provider)
    [stale] = queue_claim(worker_id="slow-worker", size=10)
    QueueItem.objects.update(locked_by="other-worker")  # another worker took it over

    late = DrainResult()
    queue_record(
        worker_id="slow-worker", outcomes=[outcome_of(stale, OutcomeKind.SENT)], result=late
    )

    assert late.sent == 0
    message.refresh_from_db()
    assert message.status == "sending" and message.sent_at is None
    assert not MessageEvent.objects.filter(message=message, event_type="sent").exists()
