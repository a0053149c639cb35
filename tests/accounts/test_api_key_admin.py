import pytest
from django.contrib.messages import get_messages

from accounts.models import ApiKey
from accounts.services import api_key_authenticate
from tests.factories import api_key_for

ADD_URL = "/admin/accounts/apikey/add/"
LIST_URL = "/admin/accounts/apikey/"


def plain_key_from_messages(response) -> str:
    for message in get_messages(response.wsgi_request):
        if "shown only this once" in str(message):
            return str(message).rsplit(" ", 1)[-1]
    raise AssertionError("no message carries the new key")


@pytest.mark.django_db
def test_the_add_form_creates_a_key_and_shows_it_once(superuser_client, alice):
    response = superuser_client.post(
        ADD_URL,
        {"account": alice.pk, "name": "shop", "permissions": ["mail"]},
        follow=True,
    )
    assert response.status_code == 200
    key = plain_key_from_messages(response)
    assert key.startswith("mp_live_")
    assert key in response.content.decode()  # on the page after the redirect
    api_key = api_key_authenticate(plain_key=key)
    assert (api_key.account, api_key.name, api_key.permissions) == (alice, "shop", ["mail"])

    # Never again: neither the list nor the key's page shows the key or its hash.
    for url in (LIST_URL, f"{LIST_URL}{api_key.pk}/change/"):
        page = superuser_client.get(url).content.decode()
        assert key not in page
        assert api_key.key_hash not in page
        assert api_key.display in page


@pytest.mark.django_db
def test_the_add_form_makes_test_keys_and_keys_without_permissions(superuser_client, alice):
    response = superuser_client.post(
        ADD_URL, {"account": alice.pk, "name": "", "test_mode": "on"}, follow=True
    )
    key = plain_key_from_messages(response)
    assert key.startswith("mp_test_")
    api_key = api_key_authenticate(plain_key=key)
    assert api_key.is_test
    assert api_key.permissions == []


@pytest.mark.django_db
def test_a_stored_key_cannot_be_edited(superuser_client, alice):
    api_key_for(alice)
    api_key = ApiKey.objects.get()
    page = superuser_client.get(f"{LIST_URL}{api_key.pk}/change/").content.decode()
    assert 'name="permissions"' not in page
    assert 'name="account"' not in page
    superuser_client.post(
        f"{LIST_URL}{api_key.pk}/change/", {"name": "changed", "permissions": '["x"]'}
    )
    api_key.refresh_from_db()
    assert api_key.permissions == ["mail"]
    assert api_key.name == ""


@pytest.mark.django_db
def test_the_revoke_action_revokes_the_selected_keys(superuser_client, alice, bob):
    alice_key, bob_key = api_key_for(alice), api_key_for(bob)
    selected = ApiKey.objects.get(account=alice)
    response = superuser_client.post(
        LIST_URL, {"action": "revoke_selected", "_selected_action": [selected.pk]}, follow=True
    )
    assert response.status_code == 200
    assert api_key_authenticate(plain_key=alice_key) is None
    assert api_key_authenticate(plain_key=bob_key) is not None
    assert "Revoked 1 key" in response.content.decode()


@pytest.mark.django_db
def test_the_list_shows_prefix_permissions_and_state(superuser_client, alice):
    key = api_key_for(alice, is_test=True)
    page = superuser_client.get(LIST_URL).content.decode()
    assert f"{key[:12]}…{key[-4:]}" in page
    assert "alice" in page


@pytest.mark.django_db
def test_the_add_form_offers_account_name_permissions_and_test_flag(superuser_client):
    html = superuser_client.get(ADD_URL).content.decode()
    for field in ("account", "name", "permissions", "test_mode"):
        assert f'name="{field}"' in html
    assert (
        'name="permissions" value="mail" id="id_permissions_0" checked' in html
    )  # mail by default
    assert "key_hash" not in html
