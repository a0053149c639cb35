"""Account settings in the admin: an owner sees and changes only their own row."""

import pytest

from accounts.models import AccountSettings
from tests.admin_tenancy.conftest import assert_doesnt_exist

pytestmark = pytest.mark.django_db

LIST = "/admin/accounts/accountsettings/"


def test_an_owner_lists_only_their_own_settings(alice_admin, alices, bobs):
    response = alice_admin.get(LIST)

    assert response.context["cl"].result_count == 1
    assert [row.account.username for row in response.context["cl"].result_list] == ["alice"]
    assert "bob" not in response.text.split('id="result_list"')[1].split("</table>")[0]


def test_another_accounts_settings_dont_exist_for_an_owner(alice_admin, alices, bobs):
    url = f"{LIST}{bobs.settings.pk}/change/"
    assert_doesnt_exist(alice_admin, url)
    assert_doesnt_exist(alice_admin, url, "post", {"account": bobs.settings.account_id})

    bobs.settings.refresh_from_db()
    assert bobs.settings.track_opens is False


def test_an_owner_changes_their_own_settings_and_cannot_move_them(alice_admin, alice, bob, alices):
    response = alice_admin.post(
        f"{LIST}{alices.settings.pk}/change/",
        {"account": bob.pk, "track_opens": "on", "track_clicks": "on"},
    )

    assert response.status_code == 302
    alices.settings.refresh_from_db()
    assert alices.settings.account == alice
    assert alices.settings.track_opens is True


def test_an_owner_adds_settings_only_for_themselves(alice_admin, alice, bob):
    response = alice_admin.post(f"{LIST}add/", {"account": bob.pk, "track_opens": "on"})

    assert response.status_code == 302
    assert AccountSettings.objects.get().account == alice


def test_a_second_settings_row_is_a_form_error_not_a_crash(alice_admin, alice, alices):
    response = alice_admin.post(f"{LIST}add/", {"account": alice.pk, "track_opens": "on"})

    assert response.status_code == 200
    assert "already exists" in response.text
    assert AccountSettings.objects.filter(account=alice).count() == 1


def test_an_owner_cannot_search_users_through_the_account_autocomplete(
    alice_admin, root_admin, bob
):
    params = {
        "app_label": "accounts",
        "model_name": "accountsettings",
        "field_name": "account",
        "term": "bob",
    }

    assert alice_admin.get("/admin/autocomplete/", params).status_code == 403
    found = root_admin.get("/admin/autocomplete/", params).json()["results"]
    assert [result["text"] for result in found] == ["bob"]
