"""Send: hand each claimed message to its provider over SMTP, outside any transaction.

Every claimed item ends as exactly one ``Outcome``, given to ``run.add``.
"""

import logging
from datetime import datetime
from typing import Protocol

from django.db import transaction
from django.utils import timezone

from mail.composer import email_build
from mail.delivery import DeliveryError, delivery_open, delivery_send
from mail.limits import send_limit_reserve
from mail.models import Message
from mail.queue.claim import Claimed
from mail.queue.record import Outcome, OutcomeKind
from mail.services import TEST_KEY_EVENT_DETAIL
from mailpass.errors import SendLimitExceeded
from providers.models import SmtpProvider
from providers.selectors import provider_get_default
from providers.services import provider_connection

logger = logging.getLogger(__name__)


class SendRun(Protocol):
    """What sending needs from its drain run."""

    connections: dict[int, object]

    def add(self, outcome: Outcome) -> None: ...

    def lease_keep(self) -> None: ...


def chunk_send(run: SendRun, claimed: list[Claimed]) -> None:
    groups: dict[int | None, list[Claimed]] = {}
    for entry in claimed:
        if entry.message.is_test:
            # Test keys (API.md s.7): stored and marked sent, never SMTP, never a limit slot.
            run.add(outcome_of(entry, OutcomeKind.SENT, detail=TEST_KEY_EVENT_DETAIL))
            continue
        groups.setdefault(entry.item.provider_id, []).append(entry)
    providers = SmtpProvider.objects.in_bulk([pk for pk in groups if pk is not None])
    for provider_pk, entries in groups.items():
        provider = providers.get(provider_pk)
        if provider is None or not provider.is_active:
            # Deleted or switched off since it was queued: the account's current default.
            provider = provider_get_default(account=entries[0].item.account_id)
        if provider is None:
            for entry in entries:
                run.add(
                    outcome_of(
                        entry, OutcomeKind.TEMPORARY, error="no active default SMTP provider"
                    )
                )
            continue
        _provider_send(run, provider, entries)


def _provider_send(run: SendRun, provider: SmtpProvider, entries: list[Claimed]) -> None:
    smtp = run.connections.get(provider.pk)
    if smtp is None:
        smtp = run.connections[provider.pk] = provider_connection(provider)
    limited = provider.hourly_limit is not None or provider.daily_limit is not None
    for index, entry in enumerate(entries):
        run.lease_keep()
        if limited:
            try:
                with transaction.atomic():
                    send_limit_reserve(provider=provider)
                    Message.objects.filter(pk=entry.message.pk).update(
                        limit_counted_at=timezone.now()
                    )
            except SendLimitExceeded as exc:
                # The window is full: this and the provider's remaining items wait for it to
                # free. Deferred, never failed, and not an attempt.
                retry_at = datetime.fromisoformat(exc.details["reset_at"])
                for rest in entries[index:]:
                    run.add(
                        outcome_of(
                            rest,
                            OutcomeKind.LIMITED,
                            error=f"send limit: {exc.message}",
                            retry_at=retry_at,
                        )
                    )
                return
        fresh = smtp.connection is None
        try:
            if fresh:
                delivery_open(smtp)
            delivery = delivery_send(smtp, email_build(entry.message))
        except DeliveryError as exc:
            kind = OutcomeKind.PERMANENT if exc.permanent else OutcomeKind.TEMPORARY
            run.add(outcome_of(entry, kind, error=exc.message))
            if kind == OutcomeKind.TEMPORARY and fresh and exc.smtp_code is None:
                # The server cannot be reached (refused, timeout, dropped at once): the rest
                # of this provider's items wait too instead of each trying again now.
                for rest in entries[index + 1 :]:
                    run.add(outcome_of(rest, OutcomeKind.TEMPORARY, error=exc.message))
                return
            continue
        except Exception as exc:
            # Not an SMTP answer (a bug, a broken stored message): fail it, keep draining.
            logger.exception("sending queued message %s failed", entry.message.message_id)
            run.add(
                outcome_of(
                    entry, OutcomeKind.PERMANENT, error=f"internal error: {exc.__class__.__name__}"
                )
            )
            continue
        detail = "; ".join(f"refused {rcpt}: {reply}" for rcpt, reply in delivery.refused.items())
        run.add(outcome_of(entry, OutcomeKind.SENT, detail=detail))


def outcome_of(entry: Claimed, kind: OutcomeKind, **values) -> Outcome:
    return Outcome(
        item_pk=entry.item.pk,
        message_pk=entry.message.pk,
        kind=kind,
        is_test=entry.message.is_test,
        **values,
    )
