"""The suppression check at send time (API.md s.15): one indexed query for many messages.

``/send`` checks one message, a batch all its items at once, a queue worker each claimed
chunk: every address of every message is looked up in a single query on the unique
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
    if not messages:
        return []
    addresses = []
    for message in messages:
        addresses.append(message.to_email)
        addresses.extend(message.cc or [])
        addresses.extend(message.bcc or [])
    found = suppressed_addresses(account_id=account_id, emails=addresses)
    if not found:
        return [None] * len(messages)
    verdicts: list[Suppression | None] = []
    for message in messages:
        entry = found.get(email_normalize(message.to_email))
        verdicts.append(entry)
        if entry is not None:
            continue
        dropped = list(message.suppressed or [])
        for name in ("cc", "bcc"):
            kept = []
            for address in getattr(message, name) or []:
                if email_normalize(address) in found:
                    dropped.append(address)
                else:
                    kept.append(address)
            setattr(message, name, kept)
        message.suppressed = dropped
    return verdicts


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
