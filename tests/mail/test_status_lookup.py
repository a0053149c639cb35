"""GET /api/v1/mail/status/{message_id}: every id form, and only the key's own account."""

from urllib.parse import quote

import pytest

from tests.factories import MessageFactory

MESSAGE_ID = "<k3j4Xyz_-AbCdEfGhIjKlMn.1706600000@mailpass.im>"
BARE = MESSAGE_ID[1:-1]


@pytest.fixture
def message(alice):
    return MessageFactory(account=alice, message_id=MESSAGE_ID)


@pytest.mark.django_db
@pytest.mark.parametrize(
    "path_id",
    [
        MESSAGE_ID,  # <...@...>, the client sends it as it is
        BARE,
        quote(MESSAGE_ID, safe=""),  # %3C...%40...%3E
        quote(BARE, safe=""),  # ...%40...
        f"%3C{BARE}%3E",  # percent-encoded brackets, literal @
        quote(quote(MESSAGE_ID, safe=""), safe=""),  # encoded twice by a careless client
        f"{BARE}/",  # a trailing slash is tolerated
    ],
)
def test_it_finds_the_message_by_every_id_form(alice_client, message, path_id):
    response = alice_client.get(f"/api/v1/mail/status/{path_id}")
    assert response.status_code == 200, response.content
    assert response.json()["data"]["message"]["message_id"] == MESSAGE_ID


@pytest.mark.django_db
def test_it_answers_404_for_another_accounts_message(alice_client, bob):
    MessageFactory(account=bob, message_id=MESSAGE_ID)
    response = alice_client.get(f"/api/v1/mail/status/{quote(MESSAGE_ID, safe='')}")
    assert response.status_code == 404
    assert response.json() == {
        "success": False,
        "error": {"code": "NOT_FOUND", "message": "No message with this id.", "details": {}},
    }


@pytest.mark.django_db
def test_it_answers_404_for_an_unknown_id(alice_client, message):
    response = alice_client.get("/api/v1/mail/status/%3Cnope.1706600000%40mailpass.im%3E")
    assert response.status_code == 404
    assert response.json() == {
        "success": False,
        "error": {"code": "NOT_FOUND", "message": "No message with this id.", "details": {}},
    }


@pytest.mark.django_db
def test_another_account_and_an_unknown_id_look_the_same(alice_client, bob):
    MessageFactory(account=bob, message_id=MESSAGE_ID)
    foreign = alice_client.get(f"/api/v1/mail/status/{BARE}")
    unknown = alice_client.get("/api/v1/mail/status/unknown.1@mailpass.im")
    assert (foreign.status_code, foreign.json()) == (unknown.status_code, unknown.json())


@pytest.mark.django_db
def test_it_requires_a_key(api_client, message):
    response = api_client.get(f"/api/v1/mail/status/{BARE}")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "UNAUTHORIZED"


@pytest.mark.django_db
def test_it_refuses_a_key_without_the_mail_permission(api_client, alice, message):
    from tests.factories import api_key_for

    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {api_key_for(alice, permissions=[])}")
    response = api_client.get(f"/api/v1/mail/status/{BARE}")
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "FORBIDDEN"


@pytest.mark.django_db
def test_it_answers_405_to_a_post(alice_client, message):
    response = alice_client.post(f"/api/v1/mail/status/{BARE}", {}, format="json")
    assert response.status_code == 405
    assert response.json()["error"]["code"] == "METHOD_NOT_ALLOWED"


@pytest.mark.django_db
@pytest.mark.parametrize(
    "path_id",
    ["abc%00def%40mailpass.im", "%2500", "x" * 5000, "%3C%3E", "%", "%ZZ", "%C3%28", "%20"],
)
def test_odd_ids_are_a_plain_404(alice_client, message, path_id):
    response = alice_client.get(f"/api/v1/mail/status/{path_id}")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "NOT_FOUND"
