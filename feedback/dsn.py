"""Reading bounce messages: RFC 3464 delivery status notifications, and the non-standard ones.

The ``message/delivery-status`` part names each recipient (``Final-Recipient``, and
``Original-Recipient`` when the server kept it), its ``Action`` and ``Status``. Postfix, Exim,
Exchange and Gmail all send it; for bounces without one, flufl.bounce's heuristics find the
failed addresses.
"""

import email
import email.policy
import hashlib
import logging
from dataclasses import dataclass
from email.message import Message as EmailMessage
from email.parser import HeaderParser

from flufl.bounce import all_failures

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class DsnRecipient:
    final: str
    original: str
    action: str  # failed, delayed, delivered, relayed, expanded
    status: str  # 5.1.1, 4.2.2...
    diagnostic: str

    @property
    def permanent(self) -> bool | None:
        """True for a permanent failure, False for a temporary one, None for no failure."""
        if self.status[:1] == "5":
            return True
        if self.status[:1] == "4":
            return False
        if self.action == "failed":
            return True
        if self.action == "delayed":
            return False
        return None


@dataclass(frozen=True)
class Dsn:
    message_id: str  # the DSN's own Message-ID, or a digest of its bytes when it has none
    recipients: list[DsnRecipient]


def _address(value: str | None) -> str:
    """``rfc822; <User@Example.com>`` -> ``User@Example.com``."""
    text = str(value or "").strip()
    if ";" in text:
        text = text.split(";", 1)[1]
    return text.strip().strip("<>").strip()


def _one_line(value: str | None) -> str:
    return " ".join(str(value or "").split())[:1000]


def _status_blocks(part: EmailMessage) -> list[EmailMessage]:
    payload = part.get_payload()
    if isinstance(payload, list):
        return payload
    # A delivery-status part the parser left as text (say, transfer-encoded): parse its blocks.
    text = part.get_payload(decode=True) or b""
    blocks = text.decode("utf-8", "replace").replace("\r\n", "\n").split("\n\n")
    return [HeaderParser().parsestr(block) for block in blocks if block.strip()]


def dsn_parse(raw: bytes) -> Dsn:
    message = email.message_from_bytes(raw, policy=email.policy.compat32)
    message_id = _one_line(message.get("Message-ID"))
    if not message_id:
        message_id = "sha256:" + hashlib.sha256(raw).hexdigest()
    recipients: list[DsnRecipient] = []
    for part in message.walk():
        if part.get_content_type() != "message/delivery-status":
            continue
        for block in _status_blocks(part):
            final = _address(block.get("Final-Recipient"))
            if not final:
                continue  # the per-message block
            recipients.append(
                DsnRecipient(
                    final=final,
                    original=_address(block.get("Original-Recipient")),
                    action=_one_line(block.get("Action")).lower(),
                    status=_one_line(block.get("Status")).split(" ")[0],
                    diagnostic=_one_line(block.get("Diagnostic-Code")),
                )
            )
    if not recipients:
        recipients = _heuristic_recipients(message)
    return Dsn(message_id=message_id[:200], recipients=recipients)


def _heuristic_recipients(message: EmailMessage) -> list[DsnRecipient]:
    try:
        temporary, permanent = all_failures(message)
    except Exception:  # a heuristic detector tripping over a strange message
        logger.warning("bounce heuristics failed on a message", exc_info=True)
        return []
    found = []
    for addresses, status, action in (
        (permanent, "5.0.0", "failed"),
        (temporary, "4.0.0", "delayed"),
    ):
        for address in addresses:
            text = address.decode("utf-8", "replace") if isinstance(address, bytes) else address
            found.append(
                DsnRecipient(
                    final=text,
                    original="",
                    action=action,
                    status=status,
                    diagnostic=_one_line(message.get("Subject")),
                )
            )
    return found
