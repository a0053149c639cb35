"""API keys in the admin: an owner lists, mints and revokes only their own keys."""

import re

import pytest

from accounts.models import ApiKey
from tests.admin_tenancy.conftest import assert_doesnt_exist, messages_of, run_action

pytestmark = pytest.mark.django_db

LIST = "/admin/accounts/apikey/"


def test_an_owner_lists_only_their_own_keys(alice_admin, alices, bobs):
    response = alice_admin.get(LIST)

    assert alices.key.display in response.text
    assert bobs.key.display not in response.text
    assert response.context["cl"].result_count == 1
    assert alice_admin.get(LIST, {"q": "bob"}).context["cl"].result_count == 0


def test_a_superuser_lists_every_accounts_keys(root_admin, alices, bobs):
    response = root_admin.get(LIST)

    assert alices.key.display in response.text and bobs.key.display in response.text


def test_an_owner_mints_keys_only_for_themselves(alice_admin, alice, bob):
    form = alice_admin.get(f"{LIST}add/").context["adminform"].form
    assert list(form.fields["account"].queryset) == [alice]

    response = alice_admin.post(
        f"{LIST}add/",
        {"account": bob.pk, "name": "stolen?", "permissions": ["mail"]},
        follow=True,
    )

    assert response.status_code == 200
    key = ApiKey.objects.get(name="stolen?")
    assert key.account == alice
    shown = re.search(r"mp_live_[\w-]+", " ".join(messages_of(response))).group(0)
    assert shown.endswith(key.last_four)
    assert not ApiKey.objects.filter(account=bob).exists()


def test_another_accounts_key_doesnt_exist_for_an_owner(alice_admin, alices, bobs):
    for suffix in ("change/", "history/"):
        assert_doesnt_exist(alice_admin, f"{LIST}{bobs.key.pk}/{suffix}")
    # Owners may not delete these at all: the same 403 for their own id and a guessed one.
    assert alice_admin.get(f"{LIST}{alices.key.pk}/delete/").status_code == 403
    assert alice_admin.get(f"{LIST}{bobs.key.pk}/delete/").status_code == 403


def test_an_owner_revokes_their_own_key_but_not_a_guessed_one(alice_admin, alices, bobs):
    response = run_action(alice_admin, LIST, "revoke_selected", alices.key, bobs.key)

    assert "Revoked 1 key(s)." in messages_of(response)
    alices.key.refresh_from_db()
    bobs.key.refresh_from_db()
    assert alices.key.revoked_at is not None
    assert bobs.key.revoked_at is None


def test_a_view_only_owner_cannot_revoke(viewer_admin, viewer):
    from accounts.services import api_key_create

    key = api_key_create(account=viewer).api_key
    response = run_action(viewer_admin, LIST, "revoke_selected", key)

    assert response.status_code == 200
    key.refresh_from_db()
    assert key.revoked_at is None
    assert viewer_admin.get(f"{LIST}add/").status_code == 403


def test_an_owner_cannot_delete_keys(alice_admin, alices):
    response = alice_admin.post(f"{LIST}{alices.key.pk}/delete/", {"post": "yes"})

    assert response.status_code == 403
    assert ApiKey.objects.filter(pk=alices.key.pk).exists()
