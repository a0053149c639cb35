"""Webhook endpoints: create, change, delete, rotate the secret, send a test event; replay."""

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.utils import timezone

from mailpass.errors import ValidationFailed
from webhooks.events import TEST_EVENT
from webhooks.models import DeliveryStatus, WebhookDelivery, WebhookEndpoint
from webhooks.network import AddressRefused, url_check_at_creation
from webhooks.signing import secret_generate

ROTATION_OVERLAP = timedelta(hours=24)


@dataclass(frozen=True)
class EndpointWithSecret:
    """An endpoint and its plain secret, which exists only in this return value."""

    endpoint: WebhookEndpoint
    secret: str


def _url_check(url: str) -> None:
    try:
        url_check_at_creation(url)
    except AddressRefused as exc:
        raise ValidationFailed(f"url: {exc}", details={"url": [str(exc)]}) from exc


def endpoint_create(
    *,
    account: AbstractBaseUser,
    url: str,
    events: list[str] | None = None,
    description: str = "",
    active: bool = True,
) -> EndpointWithSecret:
    _url_check(url)
    limit = settings.MAILPASS_WEBHOOK_MAX_ENDPOINTS
    secret = secret_generate()
    with transaction.atomic():
        # The account row serializes concurrent creations: the limit holds under a race.
        type(account).objects.select_for_update().filter(pk=account.pk).first()
        if WebhookEndpoint.objects.filter(account=account).count() >= limit:
            message = f"An account has at most {limit} webhook endpoints."
            raise ValidationFailed(message, details={"non_field_errors": [message]})
        endpoint = WebhookEndpoint(
            account=account,
            url=url,
            events=sorted(set(events or [])),
            description=description,
            active=active,
        )
        endpoint.secret = secret
        endpoint.save()
    from webhooks.signals import accounts_with_endpoints_forget

    accounts_with_endpoints_forget()  # this process kicks for the new endpoint at once
    return EndpointWithSecret(endpoint=endpoint, secret=secret)


def endpoint_update(*, endpoint: WebhookEndpoint, data: dict[str, Any]) -> WebhookEndpoint:
    """Change url, events, description, active. Switching on clears the health record and
    resumes the deliveries that waited (they are due at once)."""
    if "url" in data and data["url"] != endpoint.url:
        _url_check(data["url"])
        endpoint.url = data["url"]
    if "events" in data:
        endpoint.events = sorted(set(data["events"]))
    if "description" in data:
        endpoint.description = data["description"]
    switched_on = data.get("active") is True and not endpoint.active
    if "active" in data:
        endpoint.active = data["active"]
    with transaction.atomic():
        if switched_on:
            endpoint.disabled_reason = ""
            endpoint.failing_since = None
            WebhookDelivery.objects.filter(endpoint=endpoint, status=DeliveryStatus.PENDING).update(
                next_attempt_at=timezone.now()
            )
        endpoint.save()
    if switched_on:
        from webhooks.delivery import webhooks_kick

        transaction.on_commit(webhooks_kick)
    return endpoint


def endpoint_delete(*, endpoint: WebhookEndpoint) -> None:
    endpoint.delete()


def endpoint_secret_rotate(*, endpoint: WebhookEndpoint) -> EndpointWithSecret:
    """A new secret; the one it replaces keeps signing too for 24 hours."""
    secret = secret_generate()
    endpoint.previous_secret_encrypted = endpoint.secret_encrypted
    endpoint.previous_secret_expires_at = timezone.now() + ROTATION_OVERLAP
    endpoint.secret = secret
    endpoint.save(
        update_fields=[
            "secret_encrypted",
            "previous_secret_encrypted",
            "previous_secret_expires_at",
            "updated_at",
        ]
    )
    return EndpointWithSecret(endpoint=endpoint, secret=secret)


def endpoint_signing_secrets(*, endpoint: WebhookEndpoint) -> list[str]:
    """The secrets that sign now: the current one, and the previous one within its 24 h."""
    secrets_ = [endpoint.secret]
    expires = endpoint.previous_secret_expires_at
    if endpoint.previous_secret_encrypted and expires and expires > timezone.now():
        secrets_.append(endpoint.previous_secret)
    return secrets_


def test_delivery_create(*, endpoint: WebhookEndpoint) -> WebhookDelivery:
    """A ``webhook.test`` delivery, whatever the endpoint's filter."""
    from webhooks.identifiers import webhook_id_generate

    now = timezone.now()
    return WebhookDelivery.objects.create(
        endpoint=endpoint,
        account_id=endpoint.account_id,
        event=None,
        event_type=TEST_EVENT,
        webhook_id=webhook_id_generate(),
        status=DeliveryStatus.DELIVERING,
        next_attempt_at=None,
        created_at=now,
    )


def deliveries_replay(*, delivery_ids: list[int], account_id: int | None = None) -> int:
    """Send deliveries again, with the same ``webhook-id``, due now with a fresh schedule."""
    queryset = WebhookDelivery.objects.filter(pk__in=delivery_ids).exclude(
        status=DeliveryStatus.DELIVERING
    )
    if account_id is not None:
        queryset = queryset.filter(account_id=account_id)
    changed = queryset.update(
        status=DeliveryStatus.PENDING,
        attempts=0,
        next_attempt_at=timezone.now(),
        locked_by="",
        locked_until=None,
    )
    if changed:
        from webhooks.delivery import webhooks_kick

        transaction.on_commit(webhooks_kick)
    return changed
