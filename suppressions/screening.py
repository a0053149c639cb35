"""The suppression check at send time (API.md s.15): one indexed query for many messages.

``/send`` checks one message, a batch all its items at once, a queue worker each claimed
group: every address of every message is looked up in a single query on the unique
(account, email) index, so the cost does not grow with the size of the list.
"""

from datetime import UTC

from mail.models import Message
from mailpass.errors import RecipientSuppressed
from suppressions.models import Suppression
from suppressions.selectors import email_normalize, suppressed_addresses


def messages_screen(*, account_id: int, messages: list[Message]) -> list[Suppression | None]:
    """For each message, the entry that suppresses its ``to`` (None: it may be sent).

    Suppressed cc/bcc addresses are removed from the messages (in memory; the caller saves)
    and added to ``message.suppressed``. All messages belong to ``account_id``.
    """
    addresses = [address for message in messages for address in _addresses(message)]
    found = suppressed_addresses(account_id=account_id, emails=addresses)
    return [
        _screen(message, {(account_id, e): entry for e, entry in found.items()})
        for message in messages
    ]


def _addresses(message: Message) -> list[str]:
    return [message.to_email, *(message.cc or []), *(message.bcc or [])]


def _screen(message: Message, found: dict[tuple[int, str], Suppression]) -> Suppression | None:
    if not found:
        return None
    account_id = message.account_id
    entry = found.get((account_id, email_normalize(message.to_email)))
    if entry is not None:
        return entry
    dropped = list(message.suppressed or [])
    for name in ("cc", "bcc"):
        kept = []
        for address in getattr(message, name) or []:
            if (account_id, email_normalize(address)) in found:
                dropped.append(address)
            else:
                kept.append(address)
        setattr(message, name, kept)
    message.suppressed = dropped
    return None


def recipient_suppressed(*, to: str, entry: Suppression) -> RecipientSuppressed:
    """The 422 of a send whose ``to`` is on the list (API.md s.15), naming why and since when."""
    return RecipientSuppressed(
        f"to: {to} is on the suppression list ({entry.reason}).",
        details={
            "to": to,
            "reason": entry.reason,
            "suppressed_at": entry.created_at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        },
    )
