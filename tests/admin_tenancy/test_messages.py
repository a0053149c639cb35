"""The message log in the admin: an owner reads only their own messages and events."""

from html import escape

import pytest

from tests.admin_tenancy.conftest import assert_doesnt_exist
from tests.factories import MessageFactory

pytestmark = pytest.mark.django_db

LIST = "/admin/mail/message/"


def filter_choices(response) -> list[str]:
    changelist = response.context["cl"]
    return [
        str(choice["display"])
        for spec in changelist.filter_specs
        for choice in spec.choices(changelist)
    ]


def test_an_owner_lists_only_their_own_messages(alice_admin, alices, bobs):
    response = alice_admin.get(LIST)

    assert escape(alices.message.message_id) in response.text
    assert escape(bobs.message.message_id) not in response.text
    assert "bob-customer@example.com" not in response.text
    assert response.context["cl"].result_count == 1


def test_an_owners_status_counts_are_their_own(alice_admin, alice, alices, bobs):
    MessageFactory(account=alices.message.account, status="sent")

    counts = {
        item["status"]: item["count"] for item in alice_admin.get(LIST).context["status_counts"]
    }

    assert counts["failed"] == 1 and counts["sent"] == 1
    assert sum(counts.values()) == 2


def test_an_owners_filters_offer_only_their_own_tags_and_providers(alice_admin, alices, bobs):
    choices = filter_choices(alice_admin.get(LIST))

    assert "alice-tag" in choices
    assert not any("bob" in choice for choice in choices)


def test_an_owner_finds_nothing_of_another_account(alice_admin, alices, bobs):
    for term in (bobs.message.message_id, bobs.message.message_id.strip("<>"), "bob-customer"):
        response = alice_admin.get(LIST, {"q": term})
        assert response.context["cl"].result_count == 0, term
    for params in (
        {"tag": "bob-tag"},
        {"provider__id__exact": bobs.provider.pk},
        {"status__exact": "failed"},
    ):
        response = alice_admin.get(LIST, params)
        assert escape(bobs.message.message_id) not in response.text, params


def test_another_accounts_message_doesnt_exist_for_an_owner(alice_admin, alices, bobs):
    for suffix in ("change/", "history/"):
        assert_doesnt_exist(alice_admin, f"{LIST}{bobs.message.pk}/{suffix}")
    # Owners may not delete these at all: the same 403 for their own id and a guessed one.
    assert alice_admin.get(f"{LIST}{alices.message.pk}/delete/").status_code == 403
    assert alice_admin.get(f"{LIST}{bobs.message.pk}/delete/").status_code == 403


def test_an_owner_reads_their_own_message_with_its_events(alice_admin, alices, bobs):
    response = alice_admin.get(f"{LIST}{alices.message.pk}/change/")

    assert response.status_code == 200
    assert "alice-secret-bcc@example.com" in response.text
    assert "alice-event-detail" in response.text
    assert "bob" not in response.text.replace("bob-relay", "")  # not even in a choice list


def test_a_superuser_reads_every_accounts_messages(root_admin, alices, bobs):
    assert root_admin.get(LIST).context["cl"].result_count == 2
    response = root_admin.get(f"{LIST}{bobs.message.pk}/change/")
    assert "bob-event-detail" in response.text
