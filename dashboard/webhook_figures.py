"""Webhook figures for the dashboard (only imported when the webhooks app is installed)."""

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from webhooks.models import DeliveryStatus, WebhookDelivery, WebhookEndpoint

# The panel lists switched-off endpoints; more than this many is a list to read in the admin.
DISABLED_ENDPOINTS_SHOWN = 20


@dataclass(frozen=True)
class DisabledEndpoint:
    id: int
    url: str
    disabled_reason: str


def webhook_figures(
    *, accounts: Iterable[int] | None, since: datetime
) -> tuple[int, list[DisabledEndpoint]]:
    """Deliveries created in the period that ended failed, and the endpoints switched off.

    ``accounts`` None means every account (an operator); otherwise only those accounts' rows.
    The failed count goes through the endpoints (few rows) and the (endpoint, created_at) index.
    """
    endpoints = WebhookEndpoint.objects.all()
    if accounts is not None:
        endpoints = endpoints.filter(account_id__in=list(accounts))
    failed = WebhookDelivery.objects.filter(
        endpoint__in=endpoints.values("id"),
        created_at__gte=since,
        status=DeliveryStatus.FAILED,
    ).count()
    disabled = [
        DisabledEndpoint(
            id=endpoint.id,
            url=endpoint.url,
            disabled_reason=endpoint.disabled_reason or "Switched off by its owner.",
        )
        for endpoint in endpoints.filter(active=False)
        .order_by("-updated_at", "-id")
        .only("id", "url", "disabled_reason")[:DISABLED_ENDPOINTS_SHOWN]
    ]
    return failed, disabled
