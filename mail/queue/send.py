"""Send: hand each claimed message to its provider over SMTP, outside any transaction.

Every claimed item ends as exactly one ``Outcome``, given to ``run.add``. Items are grouped
by (account, provider): an item only ever leaves through its own account's provider, or, when
that one was deleted or switched off, through the same account's current default.

A failure while opening the connection (greeting, EHLO, STARTTLS, TLS, AUTH, an unreadable
stored password) is the provider's problem, not the messages': every item of that provider
in this run is deferred with the reason, after one try. Only a message-level 5xx (MAIL FROM,
RCPT, DATA) fails a message at once.
"""

import logging
from datetime import datetime
from typing import Protocol

from django.core.mail.backends.smtp import EmailBackend
from django.db import transaction
from django.utils import timezone

from feedback.verp import verp_sender
from mail.attachments import attachment_contents_load_many, attachment_contents_pick
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
from suppressions.screening import messages_screen

logger = logging.getLogger(__name__)


# Attachment contents are loaded for the next messages of a group together, in one query, up
# to about this many bytes (a chunk's files can be far larger than memory allows at once).
ATTACHMENTS_AHEAD_BYTES = 32 * 1024 * 1024


class SendRun(Protocol):
    """What sending needs from its drain run."""

    connections: dict[int, EmailBackend]

    def add(self, outcome: Outcome) -> None: ...

    def before_send(self, entry: Claimed) -> None:
        """Called before each SMTP transaction: keeps the lease, bounds unrecorded results;
        from its return on, ``entry`` may have gone out."""


def chunk_send(run: SendRun, claimed: list[Claimed]) -> None:
    groups: dict[tuple[int, int | None], list[Claimed]] = {}
    tests: dict[int, list[Claimed]] = {}
    for entry in claimed:
        if entry.message.is_test:
            tests.setdefault(entry.item.account_id, []).append(entry)
            continue
        groups.setdefault((entry.item.account_id, entry.item.provider_id), []).append(entry)
    for account_pk, entries in tests.items():
        # Test keys (API.md s.7): stored and marked sent, never SMTP, never a limit slot;
        # answered like live keys, so the suppression list applies to them too.
        suppressed = entries_suppressed(account_id=account_pk, entries=entries)
        for entry in entries:
            if entry.item.pk in suppressed:
                run.add(outcome_of(entry, OutcomeKind.SUPPRESSED, detail=suppressed[entry.item.pk]))
            else:
                run.add(outcome_of(entry, OutcomeKind.SENT, detail=TEST_KEY_EVENT_DETAIL))
    providers = SmtpProvider.objects.in_bulk({pk for _, pk in groups if pk is not None})
    for (account_pk, provider_pk), entries in groups.items():
        provider = providers.get(provider_pk)
        if provider is None or not provider.is_active or provider.account_id != account_pk:
            # Deleted or switched off since it was queued: the account's current default.
            provider = provider_get_default(account=account_pk)
        if provider is None:
            for entry in entries:
                run.add(
                    outcome_of(
                        entry, OutcomeKind.TEMPORARY, error="no active default SMTP provider"
                    )
                )
            continue
        _provider_send(run, provider, entries)


def entries_suppressed(*, account_id: int, entries: list[Claimed]) -> dict[int, str]:
    """Items of one account that must end without being sent: item pk -> why.

    The suppression check before SMTP (API.md s.15), one query for the group: a message
    whose ``to`` is suppressed by now ends ``suppressed``; cc/bcc suppressed since it was
    queued are dropped from it (and listed in ``Message.suppressed``) before it is built.
    """
    messages = [entry.message for entry in entries]
    before = [len(message.suppressed or []) for message in messages]
    verdicts = messages_screen(account_id=account_id, messages=messages)
    suppressed: dict[int, str] = {}
    for entry, count, verdict in zip(entries, before, verdicts, strict=True):
        message = entry.message
        if verdict is not None:
            suppressed[entry.item.pk] = (
                f"{message.to_email} is on the suppression list ({verdict.reason})"
            )
        elif len(message.suppressed or []) != count:
            Message.objects.filter(pk=message.pk).update(
                cc=message.cc, bcc=message.bcc, suppressed=message.suppressed
            )
    return suppressed


def _provider_send(run: SendRun, provider: SmtpProvider, entries: list[Claimed]) -> None:
    suppressed = entries_suppressed(account_id=provider.account_id, entries=entries)
    if suppressed:
        for entry in entries:
            if entry.item.pk in suppressed:
                run.add(outcome_of(entry, OutcomeKind.SUPPRESSED, detail=suppressed[entry.item.pk]))
        entries = [entry for entry in entries if entry.item.pk not in suppressed]
    smtp = run.connections.get(provider.pk)
    if smtp is None:
        smtp = run.connections[provider.pk] = provider_connection(provider)
    limited = provider.hourly_limit is not None or provider.daily_limit is not None
    attachments = _AttachmentsAhead(account_id=provider.account_id, entries=entries)
    for index, entry in enumerate(entries):
        if limited:
            try:
                with transaction.atomic():
                    send_limit_reserve(provider=provider)
                    # The slot counts on the provider that really sends.
                    Message.objects.filter(pk=entry.message.pk).update(
                        limit_counted_at=timezone.now(), provider_id=provider.pk
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
                            provider=provider,
                            error=f"send limit: {exc.message}",
                            retry_at=retry_at,
                        )
                    )
                return
        if smtp.connection is None:
            try:
                delivery_open(smtp)
            except DeliveryError as exc:
                error = f"could not connect to SMTP provider {provider.name!r}: {exc.message}"
                for rest in entries[index:]:
                    run.add(outcome_of(rest, OutcomeKind.TEMPORARY, provider=provider, error=error))
                return
        try:
            # Built before the wait for earlier results, so the two overlap.
            email = email_build(entry.message, contents=attachments.contents(index))
        except DeliveryError as exc:  # e.g. attachment content gone: the message's own fault
            kind = OutcomeKind.PERMANENT if exc.permanent else OutcomeKind.TEMPORARY
            run.add(outcome_of(entry, kind, provider=provider, error=exc.message))
            continue
        except Exception as exc:
            logger.exception("building queued message %s failed", entry.message.message_id)
            run.add(
                outcome_of(
                    entry,
                    OutcomeKind.PERMANENT,
                    provider=provider,
                    error=f"internal error: {exc.__class__.__name__}",
                )
            )
            continue
        run.before_send(entry)
        try:
            delivery = delivery_send(smtp, email, envelope_from=verp_sender(entry.message.pk))
        except DeliveryError as exc:
            kind = OutcomeKind.PERMANENT if exc.permanent else OutcomeKind.TEMPORARY
            run.add(
                outcome_of(entry, kind, provider=provider, error=exc.message, refused=exc.refused)
            )
            continue
        except Exception as exc:
            # Not an SMTP answer (a bug, a broken stored message): fail it, keep draining.
            logger.exception("sending queued message %s failed", entry.message.message_id)
            smtp.close()  # its state is unknown: never hand it the next message
            run.add(
                outcome_of(
                    entry,
                    OutcomeKind.PERMANENT,
                    provider=provider,
                    error=f"internal error: {exc.__class__.__name__}",
                )
            )
            continue
        detail = "; ".join(f"refused {rcpt}: {reply}" for rcpt, reply in delivery.refused.items())
        run.add(
            outcome_of(
                entry,
                OutcomeKind.SENT,
                provider=provider,
                detail=detail,
                provider_message_id=delivery.provider_message_id,
                refused=delivery.refused,
            )
        )


class _AttachmentsAhead:
    """Attachment bytes of a group's messages, loaded a window of messages at a time.

    One query per window instead of one per message; a window ends once its files reach
    ``ATTACHMENTS_AHEAD_BYTES`` (it always holds the message asked for).
    """

    def __init__(self, *, account_id: int, entries: list[Claimed]) -> None:
        self.account_id = account_id
        self.messages = [entry.message for entry in entries]
        self.loaded: dict[str, bytes] = {}
        self.loaded_until = 0  # messages before this index are covered by ``loaded``

    def contents(self, index: int) -> dict[str, bytes] | None:
        message = self.messages[index]
        if not message.attachments:
            return None
        if index >= self.loaded_until:
            self._load_from(index)
        return attachment_contents_pick(message=message, loaded=self.loaded)

    def _load_from(self, index: int) -> None:
        window, files = [], 0
        for message in self.messages[index:]:
            if window and files >= ATTACHMENTS_AHEAD_BYTES:
                break
            window.append(message)
            files += sum(a.get("size", 0) for a in message.attachments or [])
        self.loaded = attachment_contents_load_many(account_id=self.account_id, messages=window)
        self.loaded_until = index + len(window)


def outcome_of(
    entry: Claimed, kind: OutcomeKind, *, provider: SmtpProvider | None = None, **values
) -> Outcome:
    return Outcome(
        item_pk=entry.item.pk,
        message_pk=entry.message.pk,
        kind=kind,
        is_test=entry.message.is_test,
        provider_pk=provider.pk if provider is not None else None,
        **values,
    )
