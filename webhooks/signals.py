"""After an event's transaction commits, ask for a webhook run (the after-commit kick).

The delivery rows themselves come from the database trigger, whoever wrote the event; this
receiver only cuts latency for events written through the ORM (raw SQL writers wait for the
periodic run, at most ``MAILPASS_WEBHOOK_INTERVAL`` seconds). It costs no query per event: the
accounts that have active endpoints are read once every few seconds, and the kick itself is
debounced and made off the request's thread (``webhooks.delivery.webhooks_kick``).
"""

import time

from django.db import transaction
from django.db.models.signals import post_save
from django.dispatch import receiver

from mail.models import MessageEvent
from webhooks.events import WEBHOOK_EVENT_TYPES

ACCOUNTS_TTL_SECONDS = 5.0
_accounts: dict = {"ids": frozenset(), "until": 0.0}


def accounts_with_endpoints() -> frozenset[int]:
    now = time.monotonic()
    if now >= _accounts["until"]:
        from webhooks.models import WebhookEndpoint

        _accounts["ids"] = frozenset(
            WebhookEndpoint.objects.filter(active=True).values_list("account_id", flat=True)
        )
        _accounts["until"] = now + ACCOUNTS_TTL_SECONDS
    return _accounts["ids"]


def accounts_with_endpoints_forget() -> None:
    _accounts["until"] = 0.0


@receiver(post_save, sender=MessageEvent, dispatch_uid="webhooks-event-kick")
def event_saved(sender, instance: MessageEvent, created: bool, **kwargs) -> None:
    if not created or instance.event_type not in WEBHOOK_EVENT_TYPES:
        return
    accounts = accounts_with_endpoints()
    if not accounts:
        return
    if MessageEvent.message.is_cached(instance) and instance.message.account_id not in accounts:
        return
    from webhooks.delivery import webhooks_kick

    transaction.on_commit(webhooks_kick)
