"""Single sends left 'sending' by a process that died mid-send are closed as 'failed'."""

from datetime import timedelta

import pytest
from django.core.management import call_command
from django.utils import timezone

from mail.models import EventType, Message, MessageStatus, QueueItem
from mail.services import UNFINISHED_SEND_ERROR, messages_unfinished_fail
from tests.factories import MessageFactory


def _age(message: Message, minutes: int) -> None:
    Message.objects.filter(pk=message.pk).update(
        updated_at=timezone.now() - timedelta(minutes=minutes)
    )


@pytest.mark.django_db
def test_an_old_unfinished_single_send_becomes_failed_with_outcome_unknown(alice):
    message = MessageFactory(account=alice, status=MessageStatus.SENDING)
    _age(message, 20)

    assert messages_unfinished_fail() == 1

    message.refresh_from_db()
    assert message.status == MessageStatus.FAILED
    assert message.error_message == UNFINISHED_SEND_ERROR
    assert list(message.events.values_list("event_type", flat=True)) == [EventType.FAILED]


@pytest.mark.django_db
def test_a_send_still_in_progress_is_left_alone(alice):
    message = MessageFactory(account=alice, status=MessageStatus.SENDING)
    _age(message, 1)

    assert messages_unfinished_fail() == 0
    message.refresh_from_db()
    assert message.status == MessageStatus.SENDING


@pytest.mark.django_db
def test_a_queued_message_being_sent_is_left_to_its_lease(alice):
    message = MessageFactory(account=alice, status=MessageStatus.SENDING)
    QueueItem.objects.create(
        message=message, account=alice, status="sending", next_attempt_at=timezone.now()
    )
    _age(message, 60)

    assert messages_unfinished_fail() == 0
    message.refresh_from_db()
    assert message.status == MessageStatus.SENDING


@pytest.mark.django_db
def test_the_queue_command_closes_them_too(alice, capsys):
    message = MessageFactory(account=alice, status=MessageStatus.SENDING)
    _age(message, 20)

    call_command("process_mail_queue")

    assert "closed 1 unfinished single sends" in capsys.readouterr().out
    message.refresh_from_db()
    assert message.status == MessageStatus.FAILED
