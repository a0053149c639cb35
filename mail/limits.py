"""Hourly and daily send limits of a provider, exact across processes (API.md section 3).

A slot is a message whose ``limit_counted_at`` lies inside the window. ``send_limit_reserve``
runs inside the caller's transaction and locks the provider row, so count-and-take is atomic:
concurrent callers for one provider queue on that lock for the length of a COUNT and an INSERT,
never for an SMTP conversation. Providers without limits take no lock at all.

On PostgreSQL a limited provider's slots are also summed per minute (``SendLimitBucket``, kept
by triggers: migration mail 0006), and a window is counted from those buckets plus the one
minute it starts in, so the count under the lock costs the same with ten messages in the last
24 hours as with a hundred thousand. There the single send's check runs in its INSERT's trigger
(the same count, ``mail_message_limit_take``): its lock is held for one statement and its
commit, and a full window fails that statement (``send_limit_refused_as_429``).
"""

import json
import math
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from django.db import DatabaseError, connection, transaction
from django.db.models import Count, Min
from django.utils import timezone

from mailpass.errors import SendLimitExceeded
from mailpass.rows import prepared_cursor
from providers.models import SmtpProvider

WINDOWS: tuple[tuple[str, str, timedelta], ...] = (
    ("hourly", "hourly_limit", timedelta(hours=1)),
    ("daily", "daily_limit", timedelta(hours=24)),
)


@dataclass(frozen=True)
class LimitState:
    """Where the caller stands in the tightest window (None when the provider has no limit)."""

    window: str
    limit: int
    remaining: int
    reset_at: datetime

    @property
    def retry_after_seconds(self) -> int:
        return max(1, math.ceil((self.reset_at - timezone.now()).total_seconds()))

    def headers(self) -> dict[str, str]:
        reset_seconds = max(0, math.ceil((self.reset_at - timezone.now()).total_seconds()))
        return {
            "RateLimit-Limit": str(self.limit),
            "RateLimit-Remaining": str(self.remaining),
            "RateLimit-Reset": str(reset_seconds),
        }

    def details(self) -> dict[str, object]:
        return {
            "window": self.window,
            "limit": self.limit,
            "remaining": self.remaining,
            "reset_at": self.reset_at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        }


# NO KEY UPDATE: a mutex among reservers that never blocks a foreign-key check on the row.
_LOCK_SQL = "SELECT id FROM providers_smtpprovider WHERE id = %s FOR NO KEY UPDATE"

# Each window counted by ``mail_limit_window`` (migration mail 0006; the single send's INSERT
# trigger counts with it too): its whole minutes from the buckets (``SendLimitBucket``), the
# minute it starts in from the messages, and its oldest slot.
_WINDOW_SQL = "mail_limit_window(%(provider)s, %(start{n})s) w{n}"


def _windows_count(
    *, provider_id: int, lengths: list[timedelta]
) -> tuple[datetime, list[tuple[int, datetime | None]]]:
    """Lock the provider's row, then the time, then (slots taken, oldest slot) per window.

    Every send with a limit runs this. On PostgreSQL it is two hand-written statements, the
    lock and the count, and the count reads the provider's per-minute buckets: its cost does
    not grow with the number of messages in the window.
    """
    from mail.models import Message

    if connection.vendor != "postgresql":
        SmtpProvider.objects.select_for_update().filter(pk=provider_id).values_list("pk").first()
        now = timezone.now()
        counts = []
        for length in lengths:
            counted = Message.objects.filter(
                provider_id=provider_id, limit_counted_at__gt=now - length
            ).aggregate(used=Count("id"), oldest=Min("limit_counted_at"))
            counts.append((counted["used"], counted["oldest"]))
        return now, counts
    columns = ", ".join(f"w{n}.used, w{n}.oldest" for n in range(len(lengths)))
    windows = ", ".join(_WINDOW_SQL.format(n=n) for n in range(len(lengths)))
    # Prepared (planning the count cost about as much as running it).
    with prepared_cursor() as cursor:
        cursor.execute(_LOCK_SQL, [provider_id])
        # After the wait for the lock: the windows end now, and the count is a statement of
        # its own, so under READ COMMITTED it sees what the previous lock holder committed.
        now = timezone.now()
        params: dict[str, object] = {"provider": provider_id}
        for n, length in enumerate(lengths):
            params[f"start{n}"] = now - length
        cursor.execute(f"SELECT {columns} FROM {windows}", params)
        row = cursor.fetchone()
    return now, [(row[2 * i], row[2 * i + 1]) for i in range(len(lengths))]


def send_limit_reserve(
    *, provider: SmtpProvider, count: int = 1, stamped: bool = False
) -> LimitState | None:
    """Check that ``count`` more messages fit every window of the provider, under a lock.

    Must run inside ``transaction.atomic()``; the caller stamps ``limit_counted_at`` on the
    messages it sends in that same transaction, after this call or, with ``stamped=True``,
    before it (its ``count`` rows are written already and counted here as its own). Stamping
    first keeps the provider's lock for the count and the COMMIT only: the single send writes
    its row, then locks (``message_send`` off PostgreSQL). Raises ``SendLimitExceeded`` when a
    window is full (the caller's transaction must then roll back: nothing is taken), naming
    the window that frees last. Returns the tightest window after the reservation.
    """
    if count < 1:
        raise ValueError("count must be at least 1")
    if provider.hourly_limit is None and provider.daily_limit is None:
        return None
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("send_limit_reserve must run inside transaction.atomic()")
    from mail.models import Message  # mail depends on providers, not the reverse

    # The lock serializes count-and-stamp per provider. The COUNTs below are a new statement,
    # so under READ COMMITTED they see every slot the previous lock holder committed.
    windows = [(w, getattr(provider, f), length) for w, f, length in WINDOWS]
    windows = [(w, limit, length) for w, limit, length in windows if limit is not None]
    lengths = [length for _, _, length in windows]
    now, counts = _windows_count(provider_id=provider.pk, lengths=lengths)
    tightest: LimitState | None = None
    exceeded: LimitState | None = None
    for (window, limit, length), (used, oldest) in zip(windows, counts, strict=True):
        if stamped:
            used -= count  # the caller's own rows, visible to its transaction
        in_window = Message.objects.filter(
            provider_id=provider.pk, limit_counted_at__gt=now - length
        )
        if used + count > limit:
            # ``count`` slots are free once the (used + count - limit) oldest slots expire.
            freeing = used + count - limit
            if count > limit:
                reset_at = now + length  # never fits; say when the window is empty at least
            else:
                stamps = in_window.order_by("limit_counted_at").values_list(
                    "limit_counted_at", flat=True
                )
                reset_at = stamps[freeing - 1] + length
            state = LimitState(window, limit, max(0, limit - used), reset_at)
            if exceeded is None or state.reset_at > exceeded.reset_at:
                exceeded = state
            continue
        reset_at = (oldest or now) + length
        state = LimitState(window, limit, limit - used - count, reset_at)
        if tightest is None or state.remaining < tightest.remaining:
            tightest = state
    if exceeded is not None:
        raise _refusal(exceeded)
    return tightest


# The SQLSTATE of a full window, raised by the single send's INSERT trigger
# (``mail_message_limit_take``, migration mail 0006; its window lengths are ``WINDOWS``).
SEND_LIMIT_SQLSTATE = "MP429"


def _limit_state(values: dict) -> LimitState:
    return LimitState(
        window=values["window"],
        limit=values["limit"],
        remaining=values["remaining"],
        reset_at=datetime.fromisoformat(values["reset_at"]),
    )


def send_limit_from_insert(state: str | None) -> LimitState | None:
    """The tightest window as the single send's INSERT trigger left it (None: no limits)."""
    return _limit_state(json.loads(state)) if state else None


def _refusal(state: LimitState) -> SendLimitExceeded:
    return SendLimitExceeded(
        f"The provider's {state.window} send limit of {state.limit} messages is reached.",
        details=state.details(),
        headers={"Retry-After": str(state.retry_after_seconds), **state.headers()},
    )


@contextmanager
def send_limit_refused_as_429(*, limited: bool) -> Iterator[None]:
    """Turn the INSERT trigger's refusal of a full window into ``SendLimitExceeded`` (the
    statement failed as a whole: nothing was stored). Inside a transaction the statements of
    a ``limited`` provider's send run in a savepoint, so that the refusal leaves the
    transaction usable as it leaves a connection in autocommit (where a single send runs: no
    savepoint there)."""
    savepoint = limited and connection.in_atomic_block
    try:
        with transaction.atomic() if savepoint else nullcontext():
            yield
    except DatabaseError as exc:
        cause = exc.__cause__
        if getattr(cause, "sqlstate", None) != SEND_LIMIT_SQLSTATE:
            raise
        raise _refusal(_limit_state(json.loads(cause.diag.message_detail))) from exc


def send_limit_buckets_purge() -> int:
    """Delete buckets older than the longest window (a periodic job calls this)."""
    from mail.models import SendLimitBucket

    cutoff = timezone.now() - max(length for _, _, length in WINDOWS) - timedelta(hours=1)
    deleted, _ = SendLimitBucket.objects.filter(minute__lt=cutoff).delete()
    return deleted
