"""The recording service: each event once, the status moved only by the ``to`` address and
never backwards (except delivered -> bounced)."""

import pytest

from feedback.events import REASON_HARD_BOUNCE, FeedbackEvent
from feedback.services import feedback_ingest, feedback_record
from mail.models import EventType, MessageStatus
from suppressions.models import Suppression
from tests.factories import MessageFactory


def event(kind, recipient="jane@example.com", event_id="e1", **values) -> FeedbackEvent:
    return FeedbackEvent(event_type=kind, recipient=recipient, event_id=event_id, **values)


@pytest.fixture
def message(alice):
    return MessageFactory(
        account=alice, to_email="jane@example.com", cc=["cc@example.com"], status="sent"
    )


def test_a_delivery_of_the_to_address_moves_sent_to_delivered(message):
    assert feedback_record(message=message, event=event(EventType.DELIVERED, detail="250 ok"))
    message.refresh_from_db()
    assert message.status == MessageStatus.DELIVERED
    (recorded,) = message.events.all()
    assert (recorded.event_type, recorded.recipient, recorded.detail) == (
        "delivered",
        "jane@example.com",
        "250 ok",
    )


def test_the_same_event_twice_is_recorded_once(message):
    assert feedback_record(message=message, event=event(EventType.DELIVERED))
    assert not feedback_record(message=message, event=event(EventType.DELIVERED))
    assert message.events.count() == 1


def test_one_source_event_about_two_recipients_is_two_events(message):
    feedback_record(message=message, event=event(EventType.DELIVERED))
    feedback_record(message=message, event=event(EventType.DELIVERED, "cc@example.com"))
    assert message.events.count() == 2


def test_an_event_about_a_cc_recipient_does_not_move_the_status(message):
    feedback_record(message=message, event=event(EventType.BOUNCED, "CC@example.com"))
    message.refresh_from_db()
    assert message.status == MessageStatus.SENT
    assert message.events.get().event_type == "bounced"


def test_a_bounce_after_delivery_moves_delivered_to_bounced(message):
    feedback_record(message=message, event=event(EventType.DELIVERED, event_id="d"))
    feedback_record(
        message=message, event=event(EventType.BOUNCED, event_id="b", detail="550 5.1.1 gone")
    )
    message.refresh_from_db()
    assert (message.status, message.error_message) == (MessageStatus.BOUNCED, "550 5.1.1 gone")


def test_a_delivery_after_a_bounce_does_not_move_it_back(message):
    feedback_record(message=message, event=event(EventType.BOUNCED, event_id="b"))
    feedback_record(message=message, event=event(EventType.DELIVERED, event_id="d"))
    message.refresh_from_db()
    assert message.status == MessageStatus.BOUNCED
    assert message.events.count() == 2


@pytest.mark.parametrize("kind", [EventType.DEFERRED, EventType.COMPLAINED])
def test_deferred_and_complained_keep_the_status(message, kind):
    feedback_record(message=message, event=event(kind))
    message.refresh_from_db()
    assert message.status == MessageStatus.SENT


def test_a_failed_message_is_not_moved_by_feedback(alice):
    failed = MessageFactory(account=alice, to_email="jane@example.com", status="failed")
    feedback_record(message=failed, event=event(EventType.DELIVERED))
    failed.refresh_from_db()
    assert failed.status == MessageStatus.FAILED


def test_ingest_ignores_another_accounts_message_and_unknown_recipients(alice, bob, message):
    bobs = MessageFactory(account=bob, to_email="jane@example.com", status="sent")
    result = feedback_ingest(
        account_id=alice.pk,
        provider_id=None,
        events=[
            event(EventType.BOUNCED, message_id=bobs.message_id, event_id="x"),
            event(EventType.BOUNCED, "stranger@example.com", message_id=message.message_id),
            event(EventType.DELIVERED, message_id="<nobody@mailpass.im>", event_id="y"),
            event(EventType.DELIVERED, message_id=message.message_id, event_id="z"),
        ],
    )
    assert (result.recorded, result.ignored) == (1, 3)
    assert not bobs.events.exists()
    bobs.refresh_from_db()
    assert bobs.status == MessageStatus.SENT


def test_a_payload_with_nul_characters_is_stored_without_them(message):
    feedback_record(message=message, event=event(EventType.DEFERRED, detail="busy\x00 later"))
    assert message.events.get().detail == "busy later"


def test_a_hard_bounce_suppresses_that_recipient_only(message):
    feedback_record(
        message=message,
        event=event(EventType.BOUNCED, "cc@example.com", suppress=REASON_HARD_BOUNCE),
    )
    entries = Suppression.objects.filter(account=message.account)
    assert [e.email for e in entries] == ["cc@example.com"]


def test_a_test_message_never_feeds_the_suppression_list(alice):
    test_message = MessageFactory(account=alice, to_email="jane@example.com", is_test=True)
    feedback_record(
        message=test_message, event=event(EventType.BOUNCED, suppress=REASON_HARD_BOUNCE)
    )
    assert not Suppression.objects.exists()
