import pytest
from django.utils import timezone

from accounts.models import ApiKey
from accounts.services import api_key_revoke
from tests.factories import MessageFactory, api_key_for

SEND = "/api/v1/mail/send"
BODY = {"to": "user@example.com", "subject": "Hello", "html": "<p>Hi</p>"}


def assert_unauthorized(response):
    assert response.status_code == 401
    assert response["Content-Type"].startswith("application/json")
    assert response["WWW-Authenticate"].startswith("Bearer")
    body = response.json()
    assert body["success"] is False
    assert body["error"]["code"] == "UNAUTHORIZED"
    assert body["error"]["details"] == {}


@pytest.mark.django_db
def test_it_refuses_a_request_without_a_key(api_client):
    assert_unauthorized(api_client.post(SEND, BODY, format="json"))


@pytest.mark.django_db
@pytest.mark.parametrize(
    "header",
    ["Token abc", "Bearer", "Bearer a b", "Basic dXNlcjpwYXNz", "mp_live_" + "x" * 43],
)
def test_it_refuses_a_malformed_authorization_header(api_client, header):
    assert_unauthorized(api_client.post(SEND, BODY, format="json", HTTP_AUTHORIZATION=header))


@pytest.mark.django_db
def test_it_refuses_an_unknown_key(api_client, alice_key):
    unknown = alice_key[:-4] + ("AAAA" if not alice_key.endswith("AAAA") else "BBBB")
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {unknown}")
    assert_unauthorized(api_client.post(SEND, BODY, format="json"))


@pytest.mark.django_db
def test_it_refuses_a_revoked_key_at_once(api_client, alice_key):
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {alice_key}")
    assert api_client.post(SEND, BODY, format="json").status_code != 401
    api_key_revoke(api_key=ApiKey.objects.get())
    assert_unauthorized(api_client.post(SEND, BODY, format="json"))


@pytest.mark.django_db
def test_it_refuses_the_key_of_a_deactivated_account(api_client, alice, alice_key):
    alice.is_active = False
    alice.save()
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {alice_key}")
    assert_unauthorized(api_client.post(SEND, BODY, format="json"))


@pytest.mark.django_db
def test_it_forbids_a_key_without_the_mail_permission(api_client, alice):
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {api_key_for(alice, permissions=[])}")
    response = api_client.post(SEND, BODY, format="json")
    assert response.status_code == 403
    body = response.json()
    assert body["error"]["code"] == "FORBIDDEN"
    assert "mail" in body["error"]["message"]
    assert body["error"]["details"] == {}


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("post", "/api/v1/mail/send"),
        ("post", "/api/v1/mail/send-batch"),
        ("get", "/api/v1/mail/status/<abc@mailpass.im>"),
    ],
)
def test_a_valid_key_reaches_the_mail_routes(alice, alice_client, method, path):
    MessageFactory(account=alice, message_id="<abc@mailpass.im>")
    response = getattr(alice_client, method)(
        path, BODY if method == "post" else None, format="json"
    )
    assert response.status_code not in (401, 403, 404, 405)


@pytest.mark.django_db
@pytest.mark.parametrize("is_test", [False, True])
def test_live_and_test_keys_both_authenticate(api_client, alice, is_test):
    key = api_key_for(alice, is_test=is_test)
    assert key.startswith("mp_test_" if is_test else "mp_live_")
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    assert api_client.post(SEND, BODY, format="json").status_code not in (401, 403)


@pytest.mark.django_db
def test_it_records_when_a_key_was_last_used(alice_client):
    assert ApiKey.objects.get().last_used_at is None
    before = timezone.now()
    alice_client.post(SEND, BODY, format="json")
    assert ApiKey.objects.get().last_used_at >= before


@pytest.mark.django_db
def test_it_stores_only_a_hash_of_the_key(alice_key):
    api_key = ApiKey.objects.get()
    assert alice_key not in (api_key.key_hash, api_key.prefix)
    assert api_key.display == f"{alice_key[:12]}…{alice_key[-4:]}"
