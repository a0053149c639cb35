"""Reading the suppression list: the send-time lookup and the API's list and entry."""

import base64
import binascii
import functools
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from urllib.parse import unquote

from django.db import connection
from django.db.models import Q, QuerySet

from mailpass.errors import NotFound, ValidationFailed
from mailpass.rows import ModelColumns, RowReader
from suppressions.models import Suppression, SuppressionReason

PAGE_SIZE = 100
MAX_EMAIL_CHARS = Suppression._meta.get_field("email").max_length


def email_normalize(email: str) -> str:
    """The stored form of an address: the whole address, lower-cased, surrounding space cut."""
    return email.strip().lower()


def suppressed_addresses(*, account_id: int, emails: Iterable[str]) -> dict[str, Suppression]:
    """The account's entries for these addresses, keyed by the lower-cased address.

    One query on the unique (account, email) index, whatever the size of the list. Written by
    hand: every single send asks it, and compiling it with the ORM cost more than answering it.
    """
    wanted = sorted({email_normalize(e) for e in emails if e})
    if not wanted:
        return {}
    reader, select = _suppression_reader(connection.vendor)
    placeholders = ", ".join(["%s"] * len(wanted))
    with connection.cursor() as cursor:
        cursor.execute(
            f"{select} WHERE s.account_id = %s AND s.email IN ({placeholders})",
            [account_id, *wanted],
        )
        rows = cursor.fetchall()
    return {entry.email: entry for entry in map(reader.instance, rows)}


def suppressed_any_sql(*, account_id: int, emails: Iterable[str]) -> tuple[str, list]:
    """SQL (with its parameters) that is true when any of these addresses is on the account's
    list: the lookup of ``suppressed_addresses`` as an EXISTS, for a statement that must not
    write a message to a suppressed address (``mail.services.message_insert``)."""
    wanted = sorted({email_normalize(e) for e in emails if e})
    if not wanted:
        return "false", []
    table = connection.ops.quote_name(Suppression._meta.db_table)
    placeholders = ", ".join(["%s"] * len(wanted))
    return (
        f"EXISTS (SELECT 1 FROM {table} WHERE account_id = %s AND email IN ({placeholders}))",
        [account_id, *wanted],
    )


@functools.cache
def _suppression_reader(vendor: str) -> tuple[RowReader, str]:
    columns = ModelColumns(Suppression, "s")
    table = connection.ops.quote_name(Suppression._meta.db_table)
    return RowReader(columns), f"SELECT {columns.select_sql()} FROM {table} s"


def suppression_get(*, account_id: int, email: str) -> Suppression:
    """The account's entry for this address, as a path gives it (percent-encoded or not).

    An address may itself hold a ``%``, so both the form given and its decoded form are
    looked up, in one query. Another account's entry is NotFound like an unknown one.
    """
    forms = {email_normalize(email), email_normalize(unquote(email))}
    forms = {f for f in forms if f and "\x00" not in f and len(f) <= MAX_EMAIL_CHARS}
    entries = {
        entry.email: entry
        for entry in Suppression.objects.filter(account_id=account_id, email__in=forms)
        .select_related("message")
        .only(*_ENTRY_FIELDS)
    }
    entry = entries.get(email_normalize(email)) or entries.get(email_normalize(unquote(email)))
    if entry is None:
        raise NotFound("No suppression for this address.")
    return entry


_ENTRY_FIELDS = (
    "id",
    "account_id",
    "email",
    "reason",
    "detail",
    "created_at",
    "message__message_id",
)


@dataclass(frozen=True)
class SuppressionPage:
    entries: list[Suppression]
    next_cursor: str | None


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _cursor_encode(entry: Suppression) -> str:
    micros = (entry.created_at - _EPOCH) // timedelta(microseconds=1)
    return base64.urlsafe_b64encode(f"{micros}.{entry.pk}".encode()).decode().rstrip("=")


def _cursor_decode(cursor: str) -> tuple[datetime, int]:
    invalid = ValidationFailed(
        "cursor: Invalid cursor.", details={"cursor": ["Invalid cursor: use data.next_cursor."]}
    )
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode("ascii")
        micros, _, pk = raw.partition(".")
        return _EPOCH + timedelta(microseconds=int(micros)), int(pk)
    except (ValueError, UnicodeDecodeError, binascii.Error, OverflowError):
        raise invalid from None


def suppression_list(
    *,
    account_id: int,
    email: str | None = None,
    reason: str | None = None,
    cursor: str | None = None,
    page_size: int = PAGE_SIZE,
) -> SuppressionPage:
    """One page of the account's entries, newest first (keyset pagination on the index).

    ``email`` keeps the entries whose address contains it (case-insensitive); ``reason`` one
    reason. ``cursor`` is the ``next_cursor`` of the page before.
    """
    queryset: QuerySet[Suppression] = Suppression.objects.filter(account_id=account_id)
    if email and ("\x00" in email or len(email) > MAX_EMAIL_CHARS):
        message = f"At most {MAX_EMAIL_CHARS} characters, without NUL."
        raise ValidationFailed(f"email: {message}", details={"email": [message]})
    if email:
        queryset = queryset.filter(email__contains=email_normalize(email))
    if reason:
        if reason not in SuppressionReason.values:
            choices = ", ".join(SuppressionReason.values)
            raise ValidationFailed(
                f"reason: Must be one of {choices}.",
                details={"reason": [f"Must be one of {choices}."]},
            )
        queryset = queryset.filter(reason=reason)
    if cursor:
        created_at, pk = _cursor_decode(cursor)
        queryset = queryset.filter(
            Q(created_at__lt=created_at) | Q(created_at=created_at, pk__lt=pk)
        )
    entries = list(
        queryset.select_related("message")
        .only(*_ENTRY_FIELDS)
        .order_by("-created_at", "-id")[: page_size + 1]
    )
    more = len(entries) > page_size
    entries = entries[:page_size]
    return SuppressionPage(
        entries=entries, next_cursor=_cursor_encode(entries[-1]) if more else None
    )
