"""The admin's home page is the dashboard, scoped to the viewer's account (API.md s.10)."""

import re

import pytest
from django.contrib.auth.models import Permission

from mail.models import EventType, MessageEvent, MessageStatus
from tests.factories import MessageFactory, SmtpProviderFactory, UserFactory


def owner(username: str):
    user = UserFactory(username=username, is_staff=True)
    user.user_permissions.set(
        Permission.objects.filter(content_type__app_label__in=["mail", "providers", "accounts"])
    )
    return user


def card(html: str, metric: str) -> int:
    match = re.search(rf'data-metric="{metric}">.*?data-count="(\d+)"', html, flags=re.DOTALL)
    return int(match.group(1))


def sent(account, provider=None, *, count: int = 1, status=MessageStatus.SENT):
    for _ in range(count):
        message = MessageFactory(account=account, provider=provider, status=status)
        failed = status == MessageStatus.FAILED
        MessageEvent.objects.create(
            message=message, event_type=EventType.FAILED if failed else EventType.SENT
        )


@pytest.fixture
def alice_owner(db):
    return owner("alice")


@pytest.fixture
def bob_owner(db):
    return owner("bob")


@pytest.mark.django_db
def test_an_owner_sees_only_their_own_numbers(client, alice_owner, bob_owner):
    sent(alice_owner, count=3)
    sent(bob_owner, count=5)
    client.force_login(alice_owner)

    html = client.get("/admin/").content.decode()

    assert card(html, "sent") == 3
    assert "bob" not in html


@pytest.mark.django_db
def test_a_superuser_sees_all_accounts_or_the_one_picked(superuser_client, alice_owner, bob_owner):
    sent(alice_owner, count=3)
    sent(bob_owner, count=5)

    assert card(superuser_client.get("/admin/").content.decode(), "sent") == 8
    picked = superuser_client.get(f"/admin/?account={bob_owner.pk}").content.decode()
    assert card(picked, "sent") == 5


@pytest.mark.django_db
def test_an_owner_cannot_pick_another_account(client, alice_owner, bob_owner):
    sent(bob_owner, count=5)
    client.force_login(alice_owner)

    html = client.get(f"/admin/?account={bob_owner.pk}").content.decode()

    assert card(html, "sent") == 0


@pytest.mark.django_db
def test_rates_are_shares_of_sent(client, alice_owner):
    sent(alice_owner, count=3)
    sent(alice_owner, count=1, status=MessageStatus.FAILED)
    client.force_login(alice_owner)

    html = client.get("/admin/?period=7d").content.decode()

    assert card(html, "sent") == 3
    assert card(html, "failed") == 1
    assert "25.0% of handled" in html


@pytest.mark.django_db
def test_the_provider_page_shows_its_gauges_and_refuses_another_accounts_provider(
    client, alice_owner, bob_owner
):
    mine = SmtpProviderFactory(account=alice_owner, name="Main relay", hourly_limit=100)
    theirs = SmtpProviderFactory(account=bob_owner, name="Bob relay")
    sent(alice_owner, mine, count=2)
    client.force_login(alice_owner)

    page = client.get(f"/admin/dashboard/provider/{mine.pk}/")
    assert page.status_code == 200
    assert "Main relay" in page.content.decode()
    assert client.get(f"/admin/dashboard/provider/{theirs.pk}/").status_code == 404


@pytest.mark.django_db
def test_the_latest_failures_link_to_their_message_pages(client, alice_owner, bob_owner):
    failed = MessageFactory(
        account=alice_owner, status=MessageStatus.FAILED, error_message="550 mailbox full"
    )
    MessageFactory(account=bob_owner, status=MessageStatus.FAILED, to_email="bob-secret@x.io")
    client.force_login(alice_owner)

    html = client.get("/admin/").content.decode()

    assert f"/admin/mail/message/{failed.pk}/change/" in html
    assert "550 mailbox full" in html
    assert "bob-secret@x.io" not in html


@pytest.mark.django_db
def test_the_navigation_uses_the_senders_words(superuser_client):
    html = superuser_client.get("/admin/").content.decode()

    nav = re.search(r'<nav class="mp-nav".*?</nav>', html, flags=re.DOTALL).group(0)
    for label in ("Dashboard", "Providers", "Messages", "API keys"):
        assert f">{label}</a>" in nav
    assert "<title>Dashboard | MailPass</title>" in html


@pytest.mark.django_db
def test_each_period_renders_its_buckets(superuser_client):
    for period, buckets in (("24h", 24), ("7d", 7), ("30d", 30)):
        html = superuser_client.get(f"/admin/?period={period}").content.decode()
        table = re.search(r"<tbody>(.*?)</tbody>", html, flags=re.DOTALL).group(1)
        assert table.count("<tr>") == buckets


def webhooks_panel(html: str) -> tuple[int, list[str]]:
    failed = re.search(r'data-webhooks="failed">(\d+)<', html)
    disabled = re.findall(r'data-webhooks="disabled"><a href="[^"]+">([^<]+)</a>', html)
    return int(failed.group(1)), disabled


@pytest.mark.django_db
def test_the_webhooks_panel_counts_failed_deliveries_and_names_switched_off_endpoints(
    client, superuser, alice_owner, bob_owner
):
    from django.utils import timezone

    from webhooks.models import DeliveryStatus, WebhookDelivery, WebhookEndpoint

    def endpoint(account, url: str, **fields) -> WebhookEndpoint:
        made = WebhookEndpoint(account=account, url=url, **fields)
        made.secret = "whsec_" + "A" * 32
        made.save()
        return made

    def deliveries(on: WebhookEndpoint, status: str, count: int, *, days_ago: int = 0) -> None:
        created = timezone.now() - timezone.timedelta(days=days_ago)
        for _ in range(count):
            WebhookDelivery.objects.create(
                endpoint=on,
                account=on.account,
                event_type="message.sent",
                webhook_id="msg_x",
                status=status,
                created_at=created,
            )

    alice_hook = endpoint(alice_owner, "https://alice.example/hook")
    endpoint(
        alice_owner,
        "https://alice.example/old",
        active=False,
        disabled_reason="Switched off: every attempt failed for 3 days",
    )
    bob_hook = endpoint(bob_owner, "https://bob.example/hook", active=False)
    deliveries(alice_hook, DeliveryStatus.FAILED, 2)
    deliveries(alice_hook, DeliveryStatus.FAILED, 4, days_ago=40)  # outside the period
    deliveries(alice_hook, DeliveryStatus.DELIVERED, 3)
    deliveries(bob_hook, DeliveryStatus.FAILED, 5)
    client.force_login(alice_owner)
    alice_html = client.get("/admin/").content.decode()
    client.force_login(superuser)
    everyone = client.get("/admin/").content.decode()

    assert webhooks_panel(alice_html) == (2, ["https://alice.example/old"])
    assert "every attempt failed for 3 days" in alice_html
    assert "bob.example" not in alice_html
    failed, disabled = webhooks_panel(everyone)
    assert failed == 7
    assert sorted(disabled) == ["https://alice.example/old", "https://bob.example/hook"]
    assert "Switched off by its owner." in everyone


@pytest.mark.django_db
def test_the_admins_connection_test_shows_on_the_providers_panel(
    client, alice_owner, smtp_server_factory
):
    server = smtp_server_factory(auth_users={"u1": "s3cret"}, auth_required=True)
    provider = SmtpProviderFactory(
        account=alice_owner,
        host=server.host,
        port=server.port,
        security="none",
        username="u1",
        password="wrong",
    )
    client.force_login(alice_owner)

    client.post(
        "/admin/providers/smtpprovider/",
        {"action": "test_connection", "_selected_action": [provider.pk]},
    )
    html = client.get("/admin/").content.decode()

    assert "Last connection test" in html
    assert re.search(r'<strong class="mp-bad">failed</strong>: 535', html)
    provider.password = "s3cret"
    provider.save()
    client.post(
        "/admin/providers/smtpprovider/",
        {"action": "test_connection", "_selected_action": [provider.pk]},
    )
    assert "<strong>passed</strong>" in client.get("/admin/").content.decode()
