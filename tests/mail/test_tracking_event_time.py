"""A tracking event keeps the time it happened, on PostgreSQL and on SQLite (the embedded
default once stored the number 2026 there, read back as null)."""

from datetime import timedelta

import pytest
from django.utils import timezone

from mail.models import MessageEvent
from mail.tracking import tracking_event_record
from tests.factories import MessageFactory

pytestmark = pytest.mark.django_db


def test_an_open_event_is_stored_with_its_time(alice):
    message = MessageFactory(account=alice)
    before = timezone.now()

    assert tracking_event_record(
        message_pk=message.pk, event_type="open", ip_address="192.0.2.1", user_agent="UA"
    )

    event = MessageEvent.objects.get(message=message)
    assert event.created_at is not None
    assert before - timedelta(seconds=1) <= event.created_at <= timezone.now()
    assert str(event.ip_address) == "192.0.2.1"
