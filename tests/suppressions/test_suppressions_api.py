"""The suppression list API (API.md section 15): list, one entry, add, remove; tenancy."""

import pytest

from suppressions.models import Suppression
from suppressions.services import suppression_add
from tests.factories import MessageFactory, api_key_for

pytestmark = pytest.mark.django_db

URL = "/api/v1/suppressions"


def test_adding_an_address_answers_201_with_the_entry(alice_list_client, alice):
    answer = alice_list_client.post(
        URL,
        {"email": "User@Example.com", "reason": "unsubscribe", "detail": "footer link"},
        format="json",
    )
    assert answer.status_code == 201, answer.json()
    data = answer.json()["data"]
    assert data["email"] == "user@example.com"
    assert data["reason"] == "unsubscribe"
    assert data["message_id"] is None
    assert data["detail"] == "footer link"
    assert data["created_at"].endswith("Z")
    assert Suppression.objects.get().account == alice


def test_adding_a_present_address_answers_200_with_the_entry_unchanged(alice_list_client, alice):
    message = MessageFactory(account=alice)
    suppression_add(
        account=alice,
        email="user@example.com",
        reason="hard_bounce",
        message=message,
        detail="550 5.1.1",
    )
    answer = alice_list_client.post(
        URL, {"email": "USER@example.com", "reason": "manual"}, format="json"
    )
    assert answer.status_code == 200
    data = answer.json()["data"]
    assert (data["reason"], data["message_id"], data["detail"]) == (
        "hard_bounce",
        message.message_id,
        "550 5.1.1",
    )


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"email": "not-an-address", "reason": "manual"}, "email"),
        ({"reason": "manual"}, "email"),
        ({"email": "a@example.com"}, "reason"),
        ({"email": "a@example.com", "reason": "hard_bounce"}, "reason"),
        ({"email": "a@example.com", "reason": 1}, "reason"),
        ({"email": "a@example.com", "reason": "manual", "detail": 5}, "detail"),
        ({"email": "a@example.com", "reason": "manual", "detail": "x" * 1001}, "detail"),
        ({"email": "a@example.com", "reason": "manual", "why": "typo"}, "why"),
        ({"email": ["a@example.com"], "reason": "manual"}, "email"),
    ],
)
def test_a_bad_body_is_a_validation_error_naming_the_field(alice_list_client, body, field):
    answer = alice_list_client.post(URL, body, format="json")
    assert answer.status_code == 400
    error = answer.json()["error"]
    assert error["code"] == "VALIDATION_ERROR"
    assert field in error["details"]
    assert not Suppression.objects.exists()


def test_one_entry_is_found_by_its_address_in_any_case_and_encoding(alice_list_client, alice):
    suppression_add(account=alice, email="o'neil+tag@example.com", reason="manual")
    for form in [
        "o'neil+tag@example.com",
        "O'Neil+Tag@EXAMPLE.com",
        "o%27neil%2Btag%40example.com",
        "o'neil%252Btag%2540example.com",
    ]:
        answer = alice_list_client.get(f"{URL}/{form}")
        assert answer.status_code == 200, form
        assert answer.json()["data"]["email"] == "o'neil+tag@example.com"
    assert alice_list_client.get(f"{URL}/o'neil+tag@example.com/").status_code == 200


def test_an_address_holding_a_percent_sign_is_found_as_written(alice_list_client, alice):
    suppression_add(account=alice, email="100%25off@example.com", reason="manual")
    # The path decodes once ("%2525" -> "%25"); the literal address holds "%25".
    assert (
        alice_list_client.get(f"{URL}/100%2525off@example.com").json()["data"]["email"]
        == "100%25off@example.com"
    )


def test_an_address_not_on_the_list_is_404(alice_list_client):
    answer = alice_list_client.get(f"{URL}/nobody@example.com")
    assert answer.status_code == 404
    assert answer.json()["error"]["code"] == "NOT_FOUND"
    assert alice_list_client.delete(f"{URL}/nobody@example.com").status_code == 404


def test_removing_an_entry_answers_it_and_lets_the_address_be_added_again(alice_list_client, alice):
    suppression_add(account=alice, email="user@example.com", reason="complaint")
    answer = alice_list_client.delete(f"{URL}/User%40Example.com")
    assert answer.status_code == 200
    assert answer.json()["data"]["reason"] == "complaint"
    assert not Suppression.objects.exists()
    assert alice_list_client.delete(f"{URL}/user@example.com").status_code == 404
    assert (
        alice_list_client.post(
            URL, {"email": "user@example.com", "reason": "manual"}, format="json"
        ).status_code
        == 201
    )


def test_bob_can_neither_see_nor_remove_alices_entries(alice, bob_list_client):
    suppression_add(account=alice, email="user@example.com", reason="manual")
    assert bob_list_client.get(f"{URL}/user@example.com").status_code == 404
    assert bob_list_client.delete(f"{URL}/user@example.com").status_code == 404
    assert bob_list_client.get(URL).json()["data"] == {"suppressions": [], "next_cursor": None}
    # Bob adding the same address makes his own entry; Alice's stays as it was.
    assert (
        bob_list_client.post(
            URL, {"email": "user@example.com", "reason": "unsubscribe"}, format="json"
        ).status_code
        == 201
    )
    assert Suppression.objects.get(account=alice).reason == "manual"


def test_the_list_is_newest_first_in_pages_of_100_with_a_cursor(alice_list_client, alice, bob):
    for n in range(230):
        suppression_add(account=alice, email=f"user{n:03}@example.com", reason="manual")
    suppression_add(account=bob, email="bob-only@example.com", reason="manual")
    seen, cursor, pages = [], None, 0
    while True:
        answer = alice_list_client.get(URL, {"cursor": cursor} if cursor else {})
        assert answer.status_code == 200
        data = answer.json()["data"]
        seen += [entry["email"] for entry in data["suppressions"]]
        pages += 1
        cursor = data["next_cursor"]
        if cursor is None:
            break
        assert len(data["suppressions"]) == 100
    assert pages == 3
    assert seen == [f"user{n:03}@example.com" for n in reversed(range(230))]


def test_the_list_filters_by_address_and_reason(alice_list_client, alice):
    suppression_add(account=alice, email="ann@shop.example", reason="manual")
    suppression_add(account=alice, email="ben@shop.example", reason="complaint")
    suppression_add(account=alice, email="cat@other.example", reason="complaint")

    def emails(**query):
        return [
            e["email"] for e in alice_list_client.get(URL, query).json()["data"]["suppressions"]
        ]

    assert emails(email="SHOP.example") == ["ben@shop.example", "ann@shop.example"]
    assert emails(reason="complaint") == ["cat@other.example", "ben@shop.example"]
    assert emails(email="shop", reason="complaint") == ["ben@shop.example"]
    assert emails(email="ben@shop.example") == ["ben@shop.example"]


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"reason": "soft_bounce"}, "reason"),
        ({"cursor": "not a cursor"}, "cursor"),
        ({"cursor": "bm9wZQ"}, "cursor"),
        ({"email": "x" * 300}, "email"),
    ],
)
def test_a_bad_query_is_a_validation_error_naming_it(alice_list_client, query, field):
    answer = alice_list_client.get(URL, query)
    assert answer.status_code == 400
    assert field in answer.json()["error"]["details"]


def test_a_key_without_the_suppressions_permission_is_403_and_no_key_is_401(alice, api_client):
    mail_only = api_key_for(alice)
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {mail_only}")
    for answer in [
        api_client.get(URL),
        api_client.get(f"{URL}/a@example.com"),
        api_client.post(URL, {"email": "a@example.com", "reason": "manual"}, format="json"),
        api_client.delete(f"{URL}/a@example.com"),
    ]:
        assert answer.status_code == 403
        assert answer.json()["error"]["code"] == "FORBIDDEN"
    api_client.credentials()
    assert api_client.get(URL).status_code == 401


def test_a_test_key_manages_the_same_list(alice):
    from rest_framework.test import APIClient

    client = APIClient()
    client.credentials(
        HTTP_AUTHORIZATION=f"Bearer {api_key_for(alice, permissions=['suppressions'], is_test=True)}"
    )
    assert (
        client.post(URL, {"email": "a@example.com", "reason": "manual"}, format="json").status_code
        == 201
    )
    assert Suppression.objects.get().account == alice


def test_other_methods_are_405_in_the_envelope(alice_list_client):
    answer = alice_list_client.put(f"{URL}/a@example.com", {}, format="json")
    assert answer.status_code == 405
    assert answer.json()["error"]["code"] == "METHOD_NOT_ALLOWED"
    assert alice_list_client.delete(URL).status_code == 405


def test_an_unknown_or_empty_query_parameter_is_refused(alice_list_client):
    answer = alice_list_client.get(URL, {"reson": "complaint"})
    assert answer.status_code == 400
    assert "reson" in answer.json()["error"]["details"]
    assert "reason" in alice_list_client.get(f"{URL}?reason=").json()["error"]["details"]
