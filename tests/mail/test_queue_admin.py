"""The queue in the admin: list, search, filter, and requeue of failed items."""

from html import escape

import pytest

from mail.models import QueueItem
from mail.queue import queue_drain

pytestmark = pytest.mark.django_db


def test_the_queue_list_searches_and_filters(admin_client, alice_provider, enqueue):
    [message] = enqueue(provider=alice_provider)

    by_recipient = admin_client.get("/admin/mail/queueitem/", {"q": message.to_email})
    by_status = admin_client.get("/admin/mail/queueitem/", {"status__exact": "queued"})
    detail = admin_client.get(f"/admin/mail/queueitem/{message.queue_item.pk}/change/")

    shown = escape(message.message_id)
    assert by_recipient.status_code == 200 and shown in by_recipient.text
    assert by_status.status_code == 200 and shown in by_status.text
    assert shown not in admin_client.get("/admin/mail/queueitem/", {"q": "nobody@x.org"}).text
    assert detail.status_code == 200


def test_the_requeue_action_puts_failed_items_back(
    admin_client, alice_provider, smtp_server, enqueue
):
    smtp_server.behaviour.data_replies = ["550 5.1.1 No such user"]
    failed, sent = enqueue(provider=alice_provider, count=2)
    queue_drain()

    response = admin_client.post(
        "/admin/mail/queueitem/",
        {
            "action": "requeue",
            "_selected_action": [failed.queue_item.pk, sent.queue_item.pk],
        },
        follow=True,
    )

    assert response.status_code == 200
    assert "1 item(s) requeued." in response.text
    assert QueueItem.objects.get(message=failed).status == "queued"
    assert QueueItem.objects.get(message=sent).status == "sent"
