"""Queued sends keep the provider's id from the 250 reply and use the VERP bounce address
(API.md section 16), like single sends."""

import pytest

from feedback.verp import verp_sender
from mail.models import Message
from mail.queue import queue_drain

pytestmark = pytest.mark.django_db


def test_each_queued_message_keeps_the_id_of_its_own_reply(
    alice_provider, smtp_server, enqueue, no_kick
):
    messages = enqueue(provider=alice_provider, count=2)
    smtp_server.behaviour.data_replies.extend(
        ["250 Ok 0100018c-first-000000", "250 2.0.0 Ok: queued as SecondId42"]
    )
    assert queue_drain().sent == 2
    by_message_id = {m.message_id: m for m in smtp_server.messages}
    ids = dict(Message.objects.values_list("message_id", "provider_message_id"))
    order = [received.message_id for received in smtp_server.messages]
    assert [ids[message_id] for message_id in order] == [
        "0100018c-first-000000",
        "SecondId42",
    ]
    assert set(by_message_id) == {m.message_id for m in messages}


def test_with_a_bounce_domain_queued_mail_leaves_with_its_verp_sender(
    settings, alice_provider, smtp_server, enqueue, no_kick
):
    settings.MAILPASS_BOUNCE_DOMAIN = "bounces.mailpass.test"
    (message,) = enqueue(provider=alice_provider)
    queue_drain()
    message = Message.objects.get(message_id=message.message_id)
    assert smtp_server.messages[0].mail_from == verp_sender(message.pk)
