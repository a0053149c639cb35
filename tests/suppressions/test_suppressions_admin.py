"""The suppression list in the admin: search, filter by reason, add, remove; owners see only
their own account's entries."""

import pytest
from django.contrib.auth.models import Permission

from suppressions.models import Suppression
from suppressions.services import suppression_add
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

LIST = "/admin/suppressions/suppression/"


def test_the_operator_searches_and_filters_the_list(superuser_client, alice, bob):
    suppression_add(account=alice, email="ann@shop.example", reason="manual")
    suppression_add(account=bob, email="ben@shop.example", reason="complaint")
    page = superuser_client.get(LIST, {"q": "ANN@shop"})
    assert page.status_code == 200
    assert b"ann@shop.example" in page.content and b"ben@shop.example" not in page.content
    page = superuser_client.get(LIST, {"reason__exact": "complaint"})
    assert b"ben@shop.example" in page.content and b"ann@shop.example" not in page.content


def test_the_operator_adds_and_removes_an_entry(superuser_client, alice):
    added = superuser_client.post(
        f"{LIST}add/",
        {"account": alice.pk, "email": "New@Example.com", "reason": "manual", "detail": ""},
    )
    assert added.status_code == 302, added.content[:2000]
    entry = Suppression.objects.get()
    assert (entry.account, entry.email) == (alice, "new@example.com")
    again = superuser_client.post(
        f"{LIST}add/", {"account": alice.pk, "email": "new@example.com", "reason": "manual"}
    )
    assert again.status_code == 200 and b"already on the suppression list" in again.content
    removed = superuser_client.post(f"{LIST}{entry.pk}/delete/", {"post": "yes"})
    assert removed.status_code == 302
    assert not Suppression.objects.exists()


@pytest.fixture
def owner_client(client, alice):
    """Alice as an account owner: staff, not superuser, with the suppression permissions."""
    alice.is_staff = True
    alice.save()
    alice.user_permissions.add(*Permission.objects.filter(content_type__app_label="suppressions"))
    client.force_login(alice)
    return client


def test_an_owner_sees_adds_and_removes_only_her_own_entries(owner_client, alice, bob):
    mine = suppression_add(account=alice, email="mine@example.com", reason="manual")
    theirs = suppression_add(account=bob, email="theirs@example.com", reason="manual")
    page = owner_client.get(LIST)
    assert b"mine@example.com" in page.content and b"theirs@example.com" not in page.content
    assert owner_client.get(f"{LIST}{theirs.pk}/change/").status_code in (302, 404)
    owner_client.post(f"{LIST}{theirs.pk}/delete/", {"post": "yes"})
    assert Suppression.objects.filter(pk=theirs.pk).exists()
    added = owner_client.post(f"{LIST}add/", {"email": "theirs@example.com", "reason": "manual"})
    assert added.status_code == 302
    assert Suppression.objects.filter(account=alice, email="theirs@example.com").exists()
    owner_client.post(f"{LIST}{mine.pk}/delete/", {"post": "yes"})
    assert not Suppression.objects.filter(pk=mine.pk).exists()


def test_a_stranger_without_staff_rights_sees_nothing(client):
    client.force_login(UserFactory(username="eve"))
    assert client.get(LIST).status_code == 302  # to the login page


def test_the_account_owners_group_may_view_add_and_remove_entries():
    from django.contrib.auth.models import Group

    from mailpass.admin_tenancy import OWNER_GROUP

    granted = set(
        Group.objects.get(name=OWNER_GROUP)
        .permissions.filter(content_type__app_label="suppressions")
        .values_list("codename", flat=True)
    )
    assert granted == {"view_suppression", "add_suppression", "delete_suppression"}
