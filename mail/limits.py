"""Hourly and daily send limits of a provider, exact across processes (API.md section 3).

A slot is a message whose ``limit_counted_at`` lies inside the window. ``send_limit_reserve``
runs inside the caller's transaction and locks the provider row, so count-and-take is atomic:
concurrent callers for one provider queue on that lock for the length of a COUNT and an INSERT,
never for an SMTP conversation. Providers without limits take no lock at all.
"""

import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from django.db import transaction
from django.db.models import Count, Min
from django.utils import timezone

from mailpass.errors import SendLimitExceeded
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


def send_limit_reserve(*, provider: SmtpProvider, count: int = 1) -> LimitState | None:
    """Check that ``count`` more messages fit every window of the provider, under a lock.

    Must run inside ``transaction.atomic()``; the caller then stamps ``limit_counted_at`` on
    the messages it sends in that same transaction. Raises ``SendLimitExceeded`` (nothing is
    taken) when a window is full, naming the window that frees last. Returns the tightest
    window after the reservation.
    """
    if count < 1:
        raise ValueError("count must be at least 1")
    if provider.hourly_limit is None and provider.daily_limit is None:
        return None
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("send_limit_reserve must run inside transaction.atomic()")
    from mail.models import Message  # mail depends on providers, not the reverse

    # The lock serializes count-and-stamp per provider. The COUNTs below are new statements,
    # so under READ COMMITTED they see every slot the previous lock holder committed.
    SmtpProvider.objects.select_for_update().filter(pk=provider.pk).values_list("pk").first()
    now = timezone.now()
    tightest: LimitState | None = None
    exceeded: LimitState | None = None
    for window, field, length in WINDOWS:
        limit = getattr(provider, field)
        if limit is None:
            continue
        in_window = Message.objects.filter(
            provider_id=provider.pk, limit_counted_at__gt=now - length
        )
        counted = in_window.aggregate(used=Count("id"), oldest=Min("limit_counted_at"))
        used = counted["used"]
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
        reset_at = (counted["oldest"] or now) + length
        state = LimitState(window, limit, limit - used - count, reset_at)
        if tightest is None or state.remaining < tightest.remaining:
            tightest = state
    if exceeded is not None:
        raise SendLimitExceeded(
            f"The provider's {exceeded.window} send limit of {exceeded.limit} messages is reached.",
            details=exceeded.details(),
            headers={"Retry-After": str(exceeded.retry_after_seconds), **exceeded.headers()},
        )
    return tightest
