"""Two account owners, alice and bob, and a superuser, each with a logged-in admin client, and
one of everything the admin shows for each owner (API.md section 10)."""

from dataclasses import dataclass
from datetime import timedelta

import pytest
from django.contrib.auth.models import Permission
from django.contrib.messages import get_messages
from django.test import Client
from django.utils import timezone

from accounts.models import AccountSettings
from accounts.services import account_create, api_key_create
from mail.models import EventType, MessageEvent, MessageStatus, QueueItem, QueueItemStatus
from tests.factories import MessageFactory, SmtpProviderFactory


@pytest.fixture
def alice(db):
    """An account owner: staff, not a superuser, in the group ``account owners``."""
    return account_create(username="alice", email="alice@example.com")


@pytest.fixture
def bob(db):
    return account_create(username="bob", email="bob@example.com")


def logged_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def alice_admin(alice) -> Client:
    return logged_in(alice)


@pytest.fixture
def bob_admin(bob) -> Client:
    return logged_in(bob)


@pytest.fixture
def root_admin(superuser) -> Client:
    return logged_in(superuser)


@pytest.fixture
def viewer(db):
    """An owner who may only look: every view permission, nothing else."""
    user = account_create(username="viewer", email="viewer@example.com")
    user.groups.clear()
    user.user_permissions.set(Permission.objects.filter(codename__startswith="view_"))
    return user


@pytest.fixture
def viewer_admin(viewer) -> Client:
    return logged_in(viewer)


@dataclass
class Holdings:
    """One of each admin-visible thing of an account; names carry the owner's name."""

    provider: object
    key: object
    settings: object
    message: object
    event: object
    queue_item: object


def holdings_for(account, **provider_fields) -> Holdings:
    name = account.username
    provider = SmtpProviderFactory(account=account, name=f"{name}-relay", **provider_fields)
    key = api_key_create(account=account, name=f"{name}-key").api_key
    settings = AccountSettings.objects.create(account=account, track_opens=False)
    message = MessageFactory(
        account=account,
        provider=provider,
        to_email=f"{name}-customer@example.com",
        bcc=[f"{name}-secret-bcc@example.com"],
        subject=f"{name}-subject",
        html=f"<p>{name}-body</p>",
        tags=[f"{name}-tag"],
        metadata={"owner": f"{name}-metadata"},
        status=MessageStatus.FAILED,
    )
    event = MessageEvent.objects.create(
        message=message, event_type=EventType.FAILED, detail=f"{name}-event-detail"
    )
    queue_item = QueueItem.objects.create(
        message=message,
        account=account,
        provider=provider,
        status=QueueItemStatus.FAILED,
        attempts=3,
        next_attempt_at=timezone.now() - timedelta(minutes=1),
        last_error=f"{name}-queue-error",
    )
    return Holdings(provider, key, settings, message, event, queue_item)


@pytest.fixture
def alices(alice, smtp_server) -> Holdings:
    """Alice's things; her provider points at the test SMTP server (actions really run)."""
    return holdings_for(alice, host=smtp_server.host, port=smtp_server.port)


@pytest.fixture
def bobs(bob, smtp_server) -> Holdings:
    return holdings_for(bob, host=smtp_server.host, port=smtp_server.port)


def messages_of(response) -> list[str]:
    return [str(message) for message in get_messages(response.wsgi_request)]


def assert_doesnt_exist(client: Client, url: str, method: str = "get", data=None) -> None:
    """The admin's ordinary answer to an unknown id: back to the index, "doesn't exist"."""
    response = getattr(client, method)(url, data or {})
    assert response.status_code == 302, (url, response.status_code)
    assert response["Location"] == "/admin/"
    assert any("doesn’t exist" in text for text in messages_of(response)), url


def run_action(client: Client, changelist: str, action: str, *objects, **extra):
    data = {"action": action, "_selected_action": [obj.pk for obj in objects], **extra}
    return client.post(changelist, data, follow=True)
