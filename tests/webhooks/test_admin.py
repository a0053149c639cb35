"""The webhook admin: account-scoped lists and pages, health and deliveries shown, replay and
test actions gated by the change permission."""

import pytest
from django.contrib.auth.models import Permission

from mail.models import EventType, MessageEvent
from tests.factories import MessageFactory, UserFactory
from webhooks.delivery import webhooks_run
from webhooks.models import WebhookDelivery, WebhookEndpoint

pytestmark = pytest.mark.django_db

ENDPOINTS = "/admin/webhooks/webhookendpoint/"
DELIVERIES = "/admin/webhooks/webhookdelivery/"


def _owner(username: str, *, change: bool = True):
    user = UserFactory(username=username, is_staff=True)
    codenames = ["view_webhookendpoint", "view_webhookdelivery", "add_webhookendpoint"]
    if change:
        codenames += ["change_webhookendpoint", "change_webhookdelivery"]
    user.user_permissions.set(Permission.objects.filter(codename__in=codenames))
    return user


@pytest.fixture
def delivered(receiver, endpoint_factory, allow_private):
    """Alice's and bob's endpoints, each with one delivered event."""
    alice, bob = _owner("alice"), _owner("bob")
    made = {}
    for owner in (alice, bob):
        endpoint, _ = endpoint_factory(account=owner, url=f"{receiver.url}/{owner.username}")
        MessageEvent.objects.create(
            message=MessageFactory(account=owner), event_type=EventType.SENT
        )
        made[owner.username] = endpoint
    webhooks_run()
    return alice, bob, made


def test_an_owner_sees_only_their_endpoints_and_deliveries(client, delivered):
    alice, bob, made = delivered
    client.force_login(alice)

    endpoints = client.get(ENDPOINTS)
    deliveries = client.get(DELIVERIES)

    assert endpoints.status_code == 200
    assert made["alice"].url in endpoints.text and made["bob"].url not in endpoints.text
    alice_delivery = WebhookDelivery.objects.get(endpoint=made["alice"])
    bob_delivery = WebhookDelivery.objects.get(endpoint=made["bob"])
    assert alice_delivery.webhook_id in deliveries.text
    assert bob_delivery.webhook_id not in deliveries.text


def test_another_account_s_endpoint_or_delivery_is_not_shown(client, delivered):
    alice, bob, made = delivered
    client.force_login(alice)
    bob_delivery = WebhookDelivery.objects.get(endpoint=made["bob"])

    for url in (
        f"{ENDPOINTS}{made['bob'].pk}/change/",
        f"{DELIVERIES}{bob_delivery.pk}/change/",
    ):
        answer = client.get(url, follow=True)
        assert made["bob"].url not in answer.text
        assert bob_delivery.webhook_id not in answer.text


def test_an_endpoint_page_shows_its_health_and_deliveries_and_never_its_secret(client, delivered):
    alice, _, made = delivered
    client.force_login(alice)
    endpoint = made["alice"]
    delivery = WebhookDelivery.objects.get(endpoint=endpoint)

    page = client.get(f"{ENDPOINTS}{endpoint.pk}/change/")

    assert page.status_code == 200
    assert delivery.webhook_id in page.text and "message.sent" in page.text
    assert endpoint.secret not in page.text
    assert endpoint.secret_encrypted not in page.text
    detail = client.get(f"{DELIVERIES}{delivery.pk}/change/")
    assert "200" in detail.text and "ms" in detail.text


def test_replay_sends_again_with_the_same_id_and_needs_the_change_permission(
    client, delivered, receiver
):
    alice, _, made = delivered
    delivery = WebhookDelivery.objects.get(endpoint=made["alice"])
    viewer = _owner("carol", change=False)
    WebhookEndpoint.objects.filter(pk=made["alice"].pk).update(account=viewer)
    WebhookDelivery.objects.filter(pk=delivery.pk).update(account=viewer)
    client.force_login(viewer)

    refused = client.post(
        DELIVERIES, {"action": "replay", "_selected_action": [delivery.pk]}, follow=True
    )
    assert refused.status_code == 200
    assert WebhookDelivery.objects.get(pk=delivery.pk).status == "delivered"

    WebhookEndpoint.objects.filter(pk=made["alice"].pk).update(account=alice)
    WebhookDelivery.objects.filter(pk=delivery.pk).update(account=alice)
    client.force_login(alice)
    client.post(DELIVERIES, {"action": "replay", "_selected_action": [delivery.pk]})
    assert WebhookDelivery.objects.get(pk=delivery.pk).status == "pending"
    webhooks_run()
    ids = [got.headers["webhook-id"] for got in receiver.received]
    assert ids.count(delivery.webhook_id) == 2


def test_replay_of_another_account_s_delivery_changes_nothing(client, delivered):
    alice, _, made = delivered
    bob_delivery = WebhookDelivery.objects.get(endpoint=made["bob"])
    client.force_login(alice)

    client.post(DELIVERIES, {"action": "replay", "_selected_action": [bob_delivery.pk]})

    assert WebhookDelivery.objects.get(pk=bob_delivery.pk).status == "delivered"


def test_the_test_action_sends_webhook_test(client, delivered, receiver):
    alice, _, made = delivered
    client.force_login(alice)

    answer = client.post(
        ENDPOINTS,
        {"action": "send_test_event", "_selected_action": [made["alice"].pk]},
        follow=True,
    )

    assert answer.status_code == 200
    assert receiver.received[-1].json["type"] == "webhook.test"


def test_adding_an_endpoint_shows_its_secret_once_and_refuses_private_urls(
    client, settings, delivered
):
    alice, _, _ = delivered
    client.force_login(alice)
    settings.MAILPASS_WEBHOOK_ALLOW_PRIVATE_NETWORKS = False

    refused = client.post(
        f"{ENDPOINTS}add/",
        {"account": alice.pk, "url": "http://127.0.0.1/x", "description": "", "active": "on"},
    )
    added = client.post(
        f"{ENDPOINTS}add/",
        {"account": alice.pk, "url": "https://93.184.216.34/x", "active": "on"},
        follow=True,
    )

    assert refused.status_code == 200 and "loopback" in refused.text
    endpoint = WebhookEndpoint.objects.get(url="https://93.184.216.34/x")
    assert endpoint.account == alice
    assert endpoint.secret in added.text  # shown once, in the message after saving


def test_a_member_of_the_account_owners_group_manages_webhooks_without_own_grants(
    client, receiver, endpoint_factory, allow_private
):
    from django.contrib.auth.models import Group

    from mailpass.admin_tenancy import OWNER_GROUP

    carol = UserFactory(username="carol", is_staff=True)
    carol.groups.add(Group.objects.get(name=OWNER_GROUP))
    endpoint, _ = endpoint_factory(account=carol, url=f"{receiver.url}/carol")
    MessageEvent.objects.create(message=MessageFactory(account=carol), event_type=EventType.SENT)
    webhooks_run()
    delivery = WebhookDelivery.objects.get(endpoint=endpoint)
    client.force_login(carol)

    assert client.get(ENDPOINTS).status_code == 200
    assert client.get(f"{ENDPOINTS}add/").status_code == 200
    assert client.get(f"{DELIVERIES}{delivery.pk}/change/").status_code == 200
    replayed = client.post(DELIVERIES, {"action": "replay", "_selected_action": [delivery.pk]})
    assert replayed.status_code == 302
    assert WebhookDelivery.objects.get(pk=delivery.pk).status == "pending"
