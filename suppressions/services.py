"""Writing the suppression list: entries added by hand, by feedback and by RCPT refusals.

``suppression_add`` is the one door every automatic entry goes through (API.md s.15/16):
the bounce server, the provider webhooks and the SMTP answer itself call it.
"""

import logging
import re

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.utils import timezone

from mail.models import EventType, Message, MessageEvent, MessageStatus
from mailpass.errors import NotFound
from suppressions.models import Suppression, SuppressionReason
from suppressions.selectors import MAX_EMAIL_CHARS, email_normalize, suppression_get

logger = logging.getLogger(__name__)

# "550 5.1.1 No such user": a permanent reply whose enhanced status (RFC 3463) is 5.1.x says
# the address itself is bad (no such mailbox, bad domain, moved): a hard bounce.
_HARD_BOUNCE_REPLY = re.compile(r"^\s*5\d\d[\s-]+5\.1\.\d{1,3}(?!\d)")


def _account_id(account: AbstractBaseUser | int) -> int:
    return account if isinstance(account, int) else account.pk


def suppression_create(
    *,
    account: AbstractBaseUser | int,
    email: str,
    reason: str,
    message: Message | None = None,
    detail: str = "",
) -> tuple[Suppression, bool]:
    """The account's entry for ``email`` and whether it was created now.

    An existing entry is returned unchanged (its first reason and message stay). Safe under
    concurrency: the unique (account, email) index decides, ``get_or_create`` retries a get.
    """
    if reason not in SuppressionReason.values:
        raise ValueError(f"unknown suppression reason {reason!r}")
    return Suppression.objects.get_or_create(
        account_id=_account_id(account),
        email=email_normalize(email),
        defaults={"reason": reason, "message": message, "detail": detail or ""},
    )


def suppression_add(
    *,
    account: AbstractBaseUser | int,
    email: str,
    reason: str,
    message: Message | None = None,
    detail: str = "",
) -> Suppression | None:
    """Suppress ``email`` for the account (idempotent); the entry, or None when nothing is added.

    Nothing is added for a message sent with a test key (API.md s.15: sends with a test key
    never add), nor for a string that cannot be an address (empty, no ``@``, too long, NUL):
    feedback may carry such things and must not fail on them.
    """
    if message is not None and message.is_test:
        return None
    normalized = email_normalize(email).strip("<>")
    if (
        not normalized
        or "@" not in normalized
        or "\x00" in normalized
        or len(normalized) > MAX_EMAIL_CHARS
    ):
        logger.warning("not suppressing %r: not an address", email[:300])
        return None
    entry, _ = suppression_create(
        account=account, email=normalized, reason=reason, message=message, detail=detail
    )
    return entry


def suppression_remove(*, account: AbstractBaseUser | int, email: str) -> Suppression:
    """Remove the account's entry for this address (as a path gives it); NotFound if absent."""
    entry = suppression_get(account_id=_account_id(account), email=email)
    deleted, _ = Suppression.objects.filter(pk=entry.pk).delete()
    if not deleted:  # removed by someone else in between
        raise NotFound("No suppression for this address.")
    return entry


def reply_is_hard_bounce(reply: str) -> bool:
    """True for a permanent SMTP reply with a 5.1.x enhanced status (``550 5.1.1 ...``)."""
    return bool(_HARD_BOUNCE_REPLY.match(reply or ""))


def message_rcpt_refusals_record(*, message: Message, refused: dict[str, str]) -> list[str]:
    """Record the recipients the server refused at RCPT with a 5.1.x status (API.md s.16.3).

    Each such refusal is a hard bounce of that recipient, and only that one: a ``bounced``
    event for it (the reply as detail) and a ``hard_bounce`` entry on the list. A refused
    ``to`` of a message that went out to its other recipients turns it ``bounced``. Other
    refusals (``550 5.7.1`` policy, 4xx) stay in the ``sent`` event's detail or the failure's
    message. Test keys never add. Returns the addresses suppressed.
    """
    if message.is_test or not refused:
        return []
    hard = {rcpt: reply for rcpt, reply in refused.items() if reply_is_hard_bounce(reply)}
    if not hard:
        return []
    suppressed: list[str] = []
    to = email_normalize(message.to_email)
    with transaction.atomic():
        MessageEvent.objects.bulk_create(
            MessageEvent(
                message=message, event_type=EventType.BOUNCED, recipient=rcpt, detail=reply
            )
            for rcpt, reply in hard.items()
        )
        for recipient, reply in hard.items():
            entry = suppression_add(
                account=message.account_id,
                email=recipient,
                reason=SuppressionReason.HARD_BOUNCE,
                message=message,
                detail=reply,
            )
            if entry is not None:
                suppressed.append(entry.email)
        to_bounced = any(email_normalize(rcpt) == to for rcpt in hard)
        if to_bounced and message.status == MessageStatus.SENT:
            changed = Message.objects.filter(pk=message.pk, status=MessageStatus.SENT).update(
                status=MessageStatus.BOUNCED, updated_at=timezone.now()
            )
            if changed:
                message.status = MessageStatus.BOUNCED
    return suppressed
