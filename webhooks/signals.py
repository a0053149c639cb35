"""After an event's transaction commits, ask for a webhook run if it made deliveries.

The delivery rows themselves come from the database trigger, whoever wrote the event; this
receiver only cuts latency for events written through the ORM (raw SQL writers wait for the
periodic run, at most ``MAILPASS_WEBHOOK_INTERVAL`` seconds). An install without any active
endpoint pays one cached lookup every few seconds, not a query per event.
"""

import time

from django.db import transaction
from django.db.models.signals import post_save
from django.dispatch import receiver

from mail.models import MessageEvent
from webhooks.events import WEBHOOK_EVENT_TYPES

ANY_ENDPOINT_TTL_SECONDS = 5.0
_any_endpoint = {"value": False, "until": 0.0}


def _any_active_endpoint() -> bool:
    now = time.monotonic()
    if now >= _any_endpoint["until"]:
        from webhooks.models import WebhookEndpoint

        _any_endpoint["value"] = WebhookEndpoint.objects.filter(active=True).exists()
        _any_endpoint["until"] = now + ANY_ENDPOINT_TTL_SECONDS
    return bool(_any_endpoint["value"])


def any_endpoint_cache_clear() -> None:
    _any_endpoint["until"] = 0.0


@receiver(post_save, sender=MessageEvent, dispatch_uid="webhooks-event-kick")
def event_saved(sender, instance: MessageEvent, created: bool, **kwargs) -> None:
    if not created or instance.event_type not in WEBHOOK_EVENT_TYPES:
        return
    if not _any_active_endpoint():
        return
    event_id = instance.pk

    def kick() -> None:
        from webhooks.delivery import webhooks_kick
        from webhooks.models import WebhookDelivery

        if WebhookDelivery.objects.filter(event_id=event_id).exists():
            webhooks_kick()

    transaction.on_commit(kick)
