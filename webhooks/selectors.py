"""Reading webhook endpoints, always within one account (another account's is NOT_FOUND)."""

from django.contrib.auth.models import AbstractBaseUser

from mailpass.errors import NotFound
from webhooks.models import WebhookEndpoint


def endpoint_list(*, account: AbstractBaseUser) -> list[WebhookEndpoint]:
    return list(WebhookEndpoint.objects.filter(account=account).order_by("created_at", "id"))


def endpoint_get(*, account: AbstractBaseUser, endpoint_id: int) -> WebhookEndpoint:
    if not 0 < endpoint_id < 2**63:  # beyond a bigint no row can match
        raise NotFound("No webhook endpoint with this id.")
    endpoint = WebhookEndpoint.objects.filter(account=account, pk=endpoint_id).first()
    if endpoint is None:
        raise NotFound("No webhook endpoint with this id.")
    return endpoint
