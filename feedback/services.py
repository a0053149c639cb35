"""Recording delivery feedback (API.md sections 11 and 16): once, on the right message.

Every source (SNS, SendGrid, Mailgun, DSNs to the bounce server) ends here. An event is
written, the message status moved and the suppression list fed in one transaction, so a
source that got a 2xx/250 never loses its event, and a retried event is recorded once (the
partial unique constraint on ``(message, external_id)`` decides, not a read before the write).
"""

import logging
from dataclasses import dataclass

from django.db import IntegrityError, transaction
from django.utils import timezone

from feedback.events import REASON_COMPLAINT, REASON_HARD_BOUNCE, FeedbackEvent
from feedback.selectors import message_for_feedback, message_recipients
from mail.models import EventType, Message, MessageEvent, MessageStatus
from suppressions.services import suppression_add

logger = logging.getLogger(__name__)

# What each event does to the status when it concerns the ``to`` address: from which statuses
# it moves, and to which. A final status never moves backwards, except delivered -> bounced.
_STATUS_MOVES: dict[str, tuple[frozenset[str], str]] = {
    EventType.DELIVERED: (frozenset({MessageStatus.SENT}), MessageStatus.DELIVERED),
    EventType.BOUNCED: (
        frozenset({MessageStatus.SENT, MessageStatus.DELIVERED}),
        MessageStatus.BOUNCED,
    ),
    # SendGrid "dropped": accepted over SMTP, then never sent on.
    EventType.FAILED: (frozenset({MessageStatus.SENT}), MessageStatus.FAILED),
}


def feedback_record(*, message: Message, event: FeedbackEvent) -> bool:
    """Record one feedback event for ``message``; False when it was already recorded.

    Only an event about the message's ``to`` address moves its status; a hard bounce or a
    complaint adds that recipient (and only that one) to the account's suppression list,
    never for a test message. Runs in its own transaction (or savepoint).
    """
    now = timezone.now()
    with transaction.atomic():
        try:
            with transaction.atomic():
                MessageEvent.objects.create(
                    message_id=message.pk,
                    event_type=event.event_type,
                    recipient=event.recipient[:254],
                    detail=event.detail,
                    external_id=event.external_id,
                )
        except IntegrityError:
            return False  # the same event again (a provider's retry, a replay)
        move = _STATUS_MOVES.get(event.event_type)
        if move is not None and event.recipient.lower() == message.to_email.lower():
            from_statuses, to_status = move
            values = {"status": to_status, "updated_at": now}
            if to_status in (MessageStatus.BOUNCED, MessageStatus.FAILED):
                values["error_message"] = event.detail
            Message.objects.filter(pk=message.pk, status__in=from_statuses).update(**values)
        if event.suppress and not message.is_test:
            _suppression_add(message=message, event=event)
    return True


def _suppression_add(*, message: Message, event: FeedbackEvent) -> None:
    suppression_add(
        account=message.account_id,
        email=event.recipient,
        reason=event.suppress,
        message=message,
        detail=event.detail,
    )


@dataclass(frozen=True)
class IngestResult:
    recorded: int = 0
    duplicates: int = 0
    ignored: int = 0  # no such message in the account, or not one of its recipients


def feedback_ingest(
    *, account_id: int, provider_id: int | None, events: list[FeedbackEvent]
) -> IngestResult:
    """Record provider events for the messages of one account (section 16.1).

    An event whose message is not the account's, or whose recipient the message never went
    to, is ignored: acknowledged, recorded nowhere.
    """
    recorded = duplicates = ignored = 0
    with transaction.atomic():
        for event in events:
            message = message_for_feedback(
                account_id=account_id,
                provider_id=provider_id,
                message_id=event.message_id,
                provider_message_id=event.provider_message_id,
            )
            if message is None or event.recipient.lower() not in message_recipients(message):
                ignored += 1
                continue
            if feedback_record(message=message, event=event):
                recorded += 1
            else:
                duplicates += 1
    return IngestResult(recorded=recorded, duplicates=duplicates, ignored=ignored)


__all__ = [
    "REASON_COMPLAINT",
    "REASON_HARD_BOUNCE",
    "IngestResult",
    "feedback_ingest",
    "feedback_record",
]


def bounce_record(*, rcpt_tos: list[str], raw: bytes) -> int:
    """Record a bounce that reached the bounce server (section 16.2); returns events recorded.

    Each envelope recipient is a VERP address naming a message; a forged or unknown token is
    ignored. The DSN's recipients that the message was sent to get ``bounced`` (5.x.x, hard
    bounce: suppressed) or ``deferred`` (4.x.x), once per DSN Message-ID.
    """
    from feedback.dsn import dsn_parse
    from feedback.verp import verp_message_pk

    pks = {pk for pk in (verp_message_pk(rcpt.rpartition("@")[0]) for rcpt in rcpt_tos) if pk}
    if not pks:
        return 0
    dsn = dsn_parse(raw)
    recorded = 0
    for message in Message.objects.filter(pk__in=pks).only(
        "pk", "account_id", "message_id", "to_email", "cc", "bcc", "status", "is_test"
    ):
        recipients = message_recipients(message)
        for item in dsn.recipients:
            permanent = item.permanent
            if permanent is None:
                continue
            address = next(
                (a for a in (item.original, item.final) if a and a.lower() in recipients), ""
            )
            if not address:
                continue  # not a recipient of this message: never an event on it
            event = FeedbackEvent(
                event_type=EventType.BOUNCED if permanent else EventType.DEFERRED,
                recipient=address,
                event_id=f"dsn:{dsn.message_id}",
                detail=" ".join(p for p in (item.status, item.diagnostic) if p),
                suppress=REASON_HARD_BOUNCE if permanent else "",
            )
            recorded += feedback_record(message=message, event=event)
    return recorded
