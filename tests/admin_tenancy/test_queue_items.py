"""The queue in the admin: an owner sees and requeues only their own items."""

import pytest

from mail.models import QueueItemStatus
from tests.admin_tenancy.conftest import assert_doesnt_exist, messages_of, run_action

pytestmark = pytest.mark.django_db

LIST = "/admin/mail/queueitem/"


@pytest.fixture(autouse=True)
def _no_drain(monkeypatch):
    """Requeued items stay queued here; what the drain does is the queue's own tests."""
    import mail.queue

    if hasattr(mail.queue, "queue_drain_kick"):
        monkeypatch.setattr("mail.queue.queue_drain_kick", lambda **kwargs: None, raising=False)


def test_an_owner_lists_only_their_own_queue_items(alice_admin, alices, bobs):
    response = alice_admin.get(LIST)

    assert "alice-queue-error" in response.text
    assert "bob-queue-error" not in response.text
    assert response.context["cl"].result_count == 1
    assert alice_admin.get(LIST, {"q": "bob-customer"}).context["cl"].result_count == 0
    filtered = alice_admin.get(LIST, {"provider__id__exact": bobs.provider.pk})
    assert "bob-queue-error" not in filtered.text
    choices = [
        str(choice["display"])
        for spec in response.context["cl"].filter_specs
        for choice in spec.choices(response.context["cl"])
    ]
    assert not any("bob" in choice for choice in choices)


def test_another_accounts_queue_item_doesnt_exist_for_an_owner(alice_admin, alices, bobs):
    for suffix in ("change/", "history/"):
        assert_doesnt_exist(alice_admin, f"{LIST}{bobs.queue_item.pk}/{suffix}")
    # Owners may not delete these at all: the same 403 for their own id and a guessed one.
    assert alice_admin.get(f"{LIST}{alices.queue_item.pk}/delete/").status_code == 403
    assert alice_admin.get(f"{LIST}{bobs.queue_item.pk}/delete/").status_code == 403


def test_an_owner_requeues_their_own_item_but_not_a_guessed_one(alice_admin, alices, bobs):
    response = run_action(alice_admin, LIST, "requeue", alices.queue_item, bobs.queue_item)

    assert "1 item(s) requeued." in messages_of(response)
    alices.queue_item.refresh_from_db()
    bobs.queue_item.refresh_from_db()
    assert alices.queue_item.status != QueueItemStatus.FAILED
    assert bobs.queue_item.status == QueueItemStatus.FAILED


def test_a_view_only_owner_cannot_requeue(viewer_admin, viewer):
    from tests.admin_tenancy.conftest import holdings_for

    mine = holdings_for(viewer)
    response = run_action(viewer_admin, LIST, "requeue", mine.queue_item)

    assert response.status_code == 200
    mine.queue_item.refresh_from_db()
    assert mine.queue_item.status == QueueItemStatus.FAILED
