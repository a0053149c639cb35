"""What the SMTP relay does at each step (API.md section 18), as plain synchronous functions.

They touch the database, so the server never calls them on its event loop: it runs them in
its bounded thread pool (``relay.server``). Each returns the SMTP reply to give, or data the
next step needs; refusals are ``RelayRefusal`` carrying their reply line.
"""

import functools
import logging
from dataclasses import dataclass

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.db import connection
from rest_framework.exceptions import ValidationError

from accounts.models import PERMISSION_MAIL, AccountSettings, ApiKey
from accounts.selectors import TrackingDefaults
from accounts.services import api_key_authenticate
from accounts.throttling import api_key_rate_count
from mail.attachments import attachments_accept
from mail.queue import BatchItem, batch_enqueue
from mail.serializers import message_input_validate
from mailpass.api import validation_error_body
from mailpass.errors import ValidationFailed
from mailpass.rows import prepared_cursor
from providers.models import SmtpProvider
from relay.mime import MimeRejected, mime_to_message

logger = logging.getLogger(__name__)

REPLY_AUTH_OK = "235 2.7.0 Authentication successful"
REPLY_AUTH_INVALID = "535 5.7.8 Authentication credentials invalid"
REPLY_NOT_ALLOWED = "550 5.7.1 This API key may not send mail (it lacks the 'mail' permission)"
REPLY_KEY_REVOKED = "550 5.7.1 This API key was revoked"
REPLY_NO_PROVIDER = "451 4.3.0 No active default SMTP provider is configured for this account"
REPLY_TEMPORARY = "451 4.3.0 Temporary failure, try again later"
REPLY_TOO_BIG = "552 5.3.4 Message too big for system"
REPLY_TOO_MANY_RECIPIENTS = "452 4.5.3 Too many recipients"
# Longer reply lines are cut: RFC 5321 allows 512 octets per reply line.
MAX_REPLY_TEXT = 400


class RelayRefusal(Exception):
    """A step refused; ``reply`` is the SMTP reply line."""

    def __init__(self, reply: str) -> None:
        super().__init__(reply)
        self.reply = reply


@dataclass(frozen=True)
class RelayIdentity:
    """Who authenticated on a connection (kept in the aiosmtpd session for its lifetime).

    ``api_key`` is the key as AUTH loaded it, with its account: each MAIL re-reads only what
    may change under an open connection (``relay_mail_begin``), not the whole key.
    """

    login: bytes
    api_key: ApiKey


@dataclass(frozen=True)
class RelaySender:
    """What MAIL FROM checked, for the DATA of the same transaction."""

    api_key: ApiKey
    tracking: TrackingDefaults
    provider: SmtpProvider  # the account's active default provider, as MAIL read it

    @property
    def account(self) -> AbstractBaseUser:
        return self.api_key.account


def relay_authenticate(*, login: bytes, password: bytes) -> RelayIdentity:
    """AUTH PLAIN/LOGIN: the password is an API key with the ``mail`` permission.

    The username is free. Raises ``RelayRefusal`` (535 5.7.8) for a bad, revoked or
    mail-less key.
    """
    try:
        plain_key = password.decode("ascii")
    except UnicodeDecodeError:
        raise RelayRefusal(REPLY_AUTH_INVALID) from None
    api_key = api_key_authenticate(plain_key=plain_key)
    if api_key is None or not api_key.has_permission(PERMISSION_MAIL):
        raise RelayRefusal(REPLY_AUTH_INVALID)
    return RelayIdentity(login=login, api_key=api_key)


# What may change while a client keeps its connection: the key (revoked, permissions), its
# account (deactivated, default provider, tracking defaults). One primary-key lookup per MAIL,
# written out because the ORM's building of this query cost ten times its execution (1.5 ms
# of CPU against 0.15 ms). Portable: PostgreSQL and SQLite. At most one provider row joins
# (one default per account, a unique constraint).
_SENDER_STATE_SQL = """
SELECT k.revoked_at, k.permissions, u.is_active, s.track_opens, s.track_clicks,
       p.id, p.from_email, p.from_name
FROM {api_key} k
JOIN {user} u ON u.id = k.account_id
LEFT JOIN {settings} s ON s.account_id = k.account_id
LEFT JOIN {provider} p ON p.account_id = k.account_id AND p.is_default AND p.is_active
WHERE k.id = %s
"""
# The provider's fields an enqueue uses (the default sender); any other is loaded from the
# database when read (the ORM's deferred fields), never guessed.
_PROVIDER_FIELDS = ["id", "account_id", "from_email", "from_name"]


@functools.cache
def _sender_state_sql() -> str:
    return _SENDER_STATE_SQL.format(
        provider=SmtpProvider._meta.db_table,
        api_key=ApiKey._meta.db_table,
        user=get_user_model()._meta.db_table,
        settings=AccountSettings._meta.db_table,
    )


def relay_mail_begin(*, identity: RelayIdentity) -> RelaySender:
    """MAIL FROM: the key is still valid and may send, the account can send, within its rate.

    Checked again for every message: a key revoked while a client keeps its connection open
    is refused at its next message. The account's default provider read here is the one the
    message is queued through (one the drain finds switched off by then is replaced there, as
    for any queued message).
    """
    api_key = identity.api_key
    with prepared_cursor() as cursor:
        cursor.execute(_sender_state_sql(), [api_key.pk])
        row = cursor.fetchone()
    if row is None:
        raise RelayRefusal(REPLY_KEY_REVOKED)
    revoked_at, permissions, account_active, track_opens, track_clicks = row[:5]
    provider_id, from_email, from_name = row[5:]
    if revoked_at is not None or not account_active:
        raise RelayRefusal(REPLY_KEY_REVOKED)
    permissions = ApiKey._meta.get_field("permissions").from_db_value(permissions, None, connection)
    if PERMISSION_MAIL not in (permissions or []):
        raise RelayRefusal(REPLY_NOT_ALLOWED)
    wait = api_key_rate_count(api_key_id=api_key.pk)
    if wait is not None:
        raise RelayRefusal(
            f"421 4.7.0 Too many messages for this API key, try again in {max(1, int(wait))} s"
        )
    if provider_id is None:  # as providers.selectors.provider_get_default decides
        raise RelayRefusal(REPLY_NO_PROVIDER)
    provider = SmtpProvider.from_db(
        connection.alias, _PROVIDER_FIELDS, [provider_id, api_key.account_id, from_email, from_name]
    )
    # No settings row: the defaults (accounts.selectors.account_tracking_defaults).
    tracking = TrackingDefaults(
        track_opens=True if track_opens is None else bool(track_opens),
        track_clicks=True if track_clicks is None else bool(track_clicks),
    )
    return RelaySender(api_key=api_key, tracking=tracking, provider=provider)


def _one_line(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= MAX_REPLY_TEXT else text[: MAX_REPLY_TEXT - 3] + "..."


def relay_message_prepare(
    *, sender: RelaySender, raw: bytes, rcpt_tos: list[str], mail_from: str
) -> BatchItem:
    """DATA, first half: map the message and validate it like a batch item.

    Raises ``RelayRefusal`` with ``550 5.6.0`` naming the field for a message that violates
    API.md section 3 or 12. Attachments are checked (and their content stored) by
    ``mail.attachments.attachments_accept``, the API's own rules.
    """
    try:
        mapped = mime_to_message(raw=raw, rcpt_tos=rcpt_tos, mail_from=mail_from)
    except MimeRejected as exc:
        raise RelayRefusal(f"550 5.6.0 {_one_line(str(exc))}") from exc
    data = dict(mapped.data)
    if mapped.headers:
        data["headers"] = mapped.headers
    try:
        data = dict(message_input_validate(data))  # as POST /send and batch items validate
    except ValidationError as exc:
        error = validation_error_body(exc.detail)["error"]
        raise RelayRefusal(f"550 5.6.0 {_one_line(error['message'])}") from exc
    # The account's tracking defaults as MAIL read them (the key's account object is the one
    # AUTH loaded, possibly long ago).
    data.setdefault("track_opens", sender.tracking.track_opens)
    data.setdefault("track_clicks", sender.tracking.track_clicks)
    if mapped.attachments:
        try:
            data["attachments"] = attachments_accept(
                account_id=sender.api_key.account_id, items=mapped.attachments
            )
        except ValidationFailed as exc:
            raise RelayRefusal(f"550 5.6.0 {_one_line(exc.message)}") from exc
    return BatchItem(index=0, to=data["to"], data=data)


def relay_items_enqueue(
    *,
    account: AbstractBaseUser,
    is_test: bool,
    provider: SmtpProvider,
    items: list[BatchItem],
    kick: bool = True,
) -> list[str]:
    """DATA, second half: queue prepared messages of one account, like one batch request,
    through the default provider MAIL read.

    Several connections' messages that are ready at the same moment go in one call (one
    transaction, one suppression-list query: ``batch_enqueue`` fails an item whose ``to`` is
    suppressed with RECIPIENT_SUPPRESSED, answered ``550 5.1.1``, and drops suppressed
    cc/bcc). Returns each message's final reply, in order: ``250 2.0.0 queued as <id>``, or
    the refusal of that item alone. ``kick=False``: the drain is not kicked here, the caller
    does it once its replies are out.
    """
    for index, item in enumerate(items):
        item.index = index
    done = batch_enqueue(
        account=account, items=items, is_test=is_test, kick=kick, provider=provider
    )
    return [_final_reply(item) for item in done]


@dataclass(frozen=True)
class ReceivedMessage:
    """One message as DATA received it, with what MAIL checked."""

    sender: RelaySender
    raw: bytes
    rcpt_tos: list[str]
    mail_from: str


def relay_messages_queue(*, messages: list[ReceivedMessage], kick: bool = True) -> list[str]:
    """DATA: map, validate and queue received messages of one account, mode (live or test)
    and provider in one transaction; each message's final reply, in order.

    A message refused on its own (``550 5.6.0``...) does not hold back the others. ``kick``
    as in ``relay_items_enqueue``.
    """
    replies: list[str] = [""] * len(messages)
    items: list[BatchItem] = []
    positions: list[int] = []
    for position, message in enumerate(messages):
        try:
            item = relay_message_prepare(
                sender=message.sender,
                raw=message.raw,
                rcpt_tos=message.rcpt_tos,
                mail_from=message.mail_from,
            )
        except RelayRefusal as refusal:
            replies[position] = refusal.reply
            continue
        except Exception:
            logger.exception("relay: DATA failed")
            replies[position] = REPLY_TEMPORARY
            continue
        items.append(item)
        positions.append(position)
    if items:
        sender = messages[positions[0]].sender
        done = relay_items_enqueue(
            account=sender.account,
            is_test=sender.api_key.is_test,
            provider=sender.provider,
            items=items,
            kick=kick,
        )
        for position, reply in zip(positions, done, strict=True):
            replies[position] = reply
    return replies


def _final_reply(item: BatchItem) -> str:
    if item.error is None:
        return f"250 2.0.0 queued as {item.message_id}"
    if item.error["code"] == "RECIPIENT_SUPPRESSED":
        return f"550 5.1.1 {_one_line(item.error['message'])}"
    return f"550 5.6.0 {_one_line(item.error['message'])}"
