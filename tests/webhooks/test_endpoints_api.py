"""/api/v1/webhooks: list, create (secret once), get, change, delete, rotate, limits, tenancy."""

import base64

import pytest

from tests.factories import api_key_for
from webhooks.models import WebhookEndpoint

pytestmark = pytest.mark.django_db

PUBLIC_URL = "https://93.184.216.34/hooks/mailpass"


def _create(client, **body):
    return client.post("/api/v1/webhooks", {"url": PUBLIC_URL, **body}, format="json")


def test_creating_an_endpoint_answers_201_with_a_whsec_secret_of_at_least_24_bytes(hooks_client):
    answer = _create(hooks_client, events=["message.bounced"], description="prod")

    assert answer.status_code == 201, answer.json()
    data = answer.json()["data"]
    assert data["url"] == PUBLIC_URL
    assert data["events"] == ["message.bounced"]
    assert data["description"] == "prod"
    assert data["active"] is True
    assert data["disabled_reason"] is None
    assert data["last_delivery"] is None
    assert data["created_at"].endswith("Z")
    assert data["secret"].startswith("whsec_")
    assert len(base64.b64decode(data["secret"].removeprefix("whsec_"))) >= 24


def test_the_secret_is_never_shown_again_and_is_encrypted_at_rest(hooks_client):
    secret = _create(hooks_client).json()["data"]["secret"]
    endpoint = WebhookEndpoint.objects.get()

    listed = hooks_client.get("/api/v1/webhooks").json()["data"]["endpoints"]
    one = hooks_client.get(f"/api/v1/webhooks/{endpoint.pk}").json()["data"]

    assert "secret" not in listed[0] and "secret" not in one
    assert secret not in endpoint.secret_encrypted
    assert secret.removeprefix("whsec_") not in endpoint.secret_encrypted
    assert endpoint.secret == secret


def test_an_account_has_at_most_ten_endpoints(hooks_client):
    for _ in range(10):
        assert _create(hooks_client).status_code == 201

    answer = _create(hooks_client)

    assert answer.status_code == 400
    assert answer.json()["error"]["code"] == "VALIDATION_ERROR"
    assert WebhookEndpoint.objects.count() == 10


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8000/hook",
        "http://localhost/hook",
        "http://10.1.2.3/hook",
        "http://192.168.0.10/hook",
        "http://169.254.169.254/latest/meta-data",
        "http://[::1]/hook",
        "http://[fe80::1]/hook",
        "http://224.0.0.1/hook",
        "http://0.0.0.0/hook",
        "http://100.64.0.1/hook",
        "http://[::ffff:127.0.0.1]/hook",
    ],
)
def test_a_url_on_a_private_network_is_refused_on_url(hooks_client, url):
    answer = _create(hooks_client, url=url)

    assert answer.status_code == 400, answer.json()
    assert answer.json()["error"]["code"] == "VALIDATION_ERROR"
    assert "url" in answer.json()["error"]["details"]
    assert not WebhookEndpoint.objects.exists()


def test_private_networks_are_allowed_when_the_setting_says_so(hooks_client, settings):
    settings.MAILPASS_WEBHOOK_ALLOW_PRIVATE_NETWORKS = True

    assert _create(hooks_client, url="http://127.0.0.1:8000/hook").status_code == 201


@pytest.mark.parametrize(
    "body, field",
    [
        ({"url": "ftp://93.184.216.34/x"}, "url"),
        ({"url": "not a url"}, "url"),
        ({"url": 123}, "url"),
        ({"url": PUBLIC_URL, "events": ["message.exploded"]}, "events"),
        ({"url": PUBLIC_URL, "events": "message.sent"}, "events"),
        ({"url": PUBLIC_URL, "events": ["message.sent", "message.sent"]}, "events"),
        ({"url": PUBLIC_URL, "events": [1]}, "events"),
        ({"url": PUBLIC_URL, "active": "yes"}, "active"),
        ({"url": PUBLIC_URL, "description": "x" * 256}, "description"),
        ({"url": PUBLIC_URL, "secret": "whsec_mine"}, "secret"),
        ({}, "url"),
    ],
)
def test_bad_input_is_a_validation_error_naming_the_field(hooks_client, body, field):
    answer = hooks_client.post("/api/v1/webhooks", body, format="json")

    assert answer.status_code == 400
    assert field in answer.json()["error"]["details"], answer.json()


def test_patch_changes_url_events_description_and_active(hooks_client):
    pk = _create(hooks_client).json()["data"]["id"]

    answer = hooks_client.patch(
        f"/api/v1/webhooks/{pk}",
        {
            "url": "https://93.184.216.35/new",
            "events": ["message.opened", "message.clicked"],
            "description": "tracking",
            "active": False,
        },
        format="json",
    )

    assert answer.status_code == 200, answer.json()
    data = answer.json()["data"]
    assert data["url"] == "https://93.184.216.35/new"
    assert data["events"] == ["message.clicked", "message.opened"]
    assert data["description"] == "tracking"
    assert data["active"] is False
    assert "secret" not in data


def test_patch_to_a_private_url_is_refused(hooks_client):
    pk = _create(hooks_client).json()["data"]["id"]

    answer = hooks_client.patch(
        f"/api/v1/webhooks/{pk}", {"url": "http://127.0.0.1/x"}, format="json"
    )

    assert answer.status_code == 400
    assert "url" in answer.json()["error"]["details"]
    assert WebhookEndpoint.objects.get().url == PUBLIC_URL


def test_delete_removes_the_endpoint(hooks_client):
    pk = _create(hooks_client).json()["data"]["id"]

    answer = hooks_client.delete(f"/api/v1/webhooks/{pk}")

    assert answer.status_code == 200
    assert answer.json()["data"] == {"id": pk, "deleted": True}
    assert hooks_client.get(f"/api/v1/webhooks/{pk}").status_code == 404


def test_rotating_shows_a_new_secret_and_keeps_the_old_one_signing_for_24_hours(hooks_client):
    from django.utils import timezone

    from webhooks.services import endpoint_signing_secrets

    created = _create(hooks_client).json()["data"]

    answer = hooks_client.post(f"/api/v1/webhooks/{created['id']}/rotate-secret")

    assert answer.status_code == 200
    new_secret = answer.json()["data"]["secret"]
    assert new_secret.startswith("whsec_") and new_secret != created["secret"]
    endpoint = WebhookEndpoint.objects.get()
    assert endpoint_signing_secrets(endpoint=endpoint) == [new_secret, created["secret"]]
    hours = (endpoint.previous_secret_expires_at - timezone.now()).total_seconds() / 3600
    assert 23.9 < hours <= 24


def test_another_account_s_endpoint_is_not_found_for_every_action(hooks_client, bob):
    bob_client = hooks_client.__class__()
    bob_client.credentials(
        HTTP_AUTHORIZATION=f"Bearer {api_key_for(bob, permissions=['webhooks'])}"
    )
    pk = _create(hooks_client).json()["data"]["id"]

    answers = [
        bob_client.get(f"/api/v1/webhooks/{pk}"),
        bob_client.patch(f"/api/v1/webhooks/{pk}", {"active": False}, format="json"),
        bob_client.delete(f"/api/v1/webhooks/{pk}"),
        bob_client.post(f"/api/v1/webhooks/{pk}/rotate-secret"),
        bob_client.post(f"/api/v1/webhooks/{pk}/test"),
    ]

    assert [a.status_code for a in answers] == [404] * 5
    assert {a.json()["error"]["code"] for a in answers} == {"NOT_FOUND"}
    assert bob_client.get("/api/v1/webhooks").json()["data"]["endpoints"] == []
    assert WebhookEndpoint.objects.get().active is True


def test_a_key_without_the_webhooks_permission_is_forbidden(alice_client):
    answer = alice_client.get("/api/v1/webhooks")

    assert answer.status_code == 403
    assert answer.json()["error"]["code"] == "FORBIDDEN"


def test_no_key_is_unauthorized(api_client):
    assert api_client.get("/api/v1/webhooks").status_code == 401


def test_an_id_beyond_any_row_is_not_found(hooks_client):
    answer = hooks_client.get("/api/v1/webhooks/99999999999999999999999")

    assert answer.status_code == 404
    assert answer.json()["error"]["code"] == "NOT_FOUND"


def test_put_is_method_not_allowed(hooks_client):
    pk = _create(hooks_client).json()["data"]["id"]

    answer = hooks_client.put(f"/api/v1/webhooks/{pk}", {"url": PUBLIC_URL}, format="json")

    assert answer.status_code == 405
    assert answer.json()["error"]["code"] == "METHOD_NOT_ALLOWED"
