"""What the dashboard shows, read from counters and indexed queries only.

``accounts`` is the set of account ids the viewer may see (None: every account, for a
superuser who picked none). Nothing here loads or loops over messages or events: totals come
from ``EventCount`` (kept by a trigger), queue figures from the partial index of due items,
send-limit usage from the partial index of counted slots.
"""

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from django.apps import apps
from django.conf import settings
from django.db.models import Count, Min, Q, QuerySet, Sum
from django.db.models.functions import TruncDay, TruncHour
from django.utils import timezone

from dashboard.models import EventCount, ProviderHealth
from mail.models import Message, MessageStatus, QueueItem, QueueItemStatus
from providers.models import SmtpProvider


@dataclass(frozen=True)
class Period:
    key: str
    label: str
    length: timedelta
    bucket: str  # "hour" or "day"


PERIODS: dict[str, Period] = {
    "24h": Period("24h", "Last 24 hours", timedelta(hours=24), "hour"),
    "7d": Period("7d", "Last 7 days", timedelta(days=7), "day"),
    "30d": Period("30d", "Last 30 days", timedelta(days=30), "day"),
}
DEFAULT_PERIOD = "24h"

# (event type counted, label, rate relative to "sent"?) in the order the page shows them.
METRICS: tuple[tuple[str, str], ...] = (
    ("sent", "Sent"),
    ("delivered", "Delivered"),
    ("bounced", "Bounced"),
    ("failed", "Failed"),
    ("suppressed", "Suppressed"),
    ("complained", "Complained"),
    ("open", "Opened"),
    ("click", "Clicked"),
)
CHART_SERIES = ("sent", "delivered", "bounced", "failed")


# Failed and suppressed messages were never sent: their rate is a share of every message
# handled (sent + failed + suppressed); the others are shares of the messages sent.
OF_HANDLED = frozenset({"failed", "suppressed"})


@dataclass(frozen=True)
class Metric:
    key: str
    label: str
    count: int
    rate: float | None  # None for "sent" itself, or when the base is 0
    rate_of: str  # "sent" or "handled"


@dataclass(frozen=True)
class Series:
    buckets: list[datetime]
    values: dict[str, list[int]]  # event type -> one value per bucket


@dataclass(frozen=True)
class Summary:
    period: Period
    metrics: list[Metric]
    series: Series


def _scoped(queryset: QuerySet, accounts: Iterable[int] | None, field_name: str = "account_id"):
    return queryset if accounts is None else queryset.filter(**{f"{field_name}__in": accounts})


def _bucket_start(moment: datetime, bucket: str) -> datetime:
    moment = moment.astimezone(UTC)
    if bucket == "hour":
        return moment.replace(minute=0, second=0, microsecond=0)
    return moment.replace(hour=0, minute=0, second=0, microsecond=0)


def dashboard_summary(
    *,
    accounts: Iterable[int] | None,
    period: Period,
    provider_id: int | None = None,
    now: datetime | None = None,
) -> Summary:
    """Counts and rates of the period, and a series per hour (24 h) or per day."""
    now = now or timezone.now()
    step = timedelta(hours=1) if period.bucket == "hour" else timedelta(days=1)
    last = _bucket_start(now, period.bucket)
    count = int(period.length / step)
    buckets = [last - step * (count - 1 - i) for i in range(count)]
    counts = _scoped(EventCount.objects.all(), accounts).filter(hour__gte=buckets[0])
    if provider_id is not None:
        counts = counts.filter(provider_id=provider_id)
    trunc = TruncHour("hour") if period.bucket == "hour" else TruncDay("hour")
    rows = (
        counts.annotate(bucket=trunc)
        .values("bucket", "event_type")
        .annotate(total=Sum("count"))
        .order_by()
    )
    index = {bucket: i for i, bucket in enumerate(buckets)}
    values = {key: [0] * count for key, _ in METRICS}
    for row in rows:
        position = index.get(row["bucket"])
        if position is not None and row["event_type"] in values:
            values[row["event_type"]][position] += row["total"]
    totals = {key: sum(series) for key, series in values.items()}
    bases = {"sent": totals["sent"], "handled": sum(totals[k] for k in ("sent", *OF_HANDLED))}
    metrics = []
    for key, label in METRICS:
        rate_of = "handled" if key in OF_HANDLED else "sent"
        base = bases[rate_of]
        rate = None if key == "sent" or not base else totals[key] / base
        metrics.append(Metric(key, label, totals[key], rate, rate_of))
    return Summary(
        period=period,
        metrics=metrics,
        series=Series(buckets=buckets, values={key: values[key] for key in CHART_SERIES}),
    )


@dataclass(frozen=True)
class Gauge:
    window: str  # "hourly" or "daily"
    limit: int | None
    used: int

    @property
    def left(self) -> int | None:
        return None if self.limit is None else max(0, self.limit - self.used)

    @property
    def share(self) -> float | None:
        return None if not self.limit else min(1.0, self.used / self.limit)


@dataclass(frozen=True)
class ProviderState:
    provider: SmtpProvider
    gauges: list[Gauge]
    health: ProviderHealth | None


def provider_states(
    *, accounts: Iterable[int] | None, provider_id: int | None = None, now: datetime | None = None
) -> list[ProviderState]:
    """Each provider's send-limit usage now (the same windows ``mail.limits`` enforces)."""
    now = now or timezone.now()
    providers = _scoped(SmtpProvider.objects.all(), accounts).order_by("account_id", "name")
    if provider_id is not None:
        providers = providers.filter(pk=provider_id)
    providers = list(providers[:50])
    ids = [provider.pk for provider in providers]
    usage = {
        row["provider_id"]: row
        for row in Message.objects.filter(
            provider_id__in=ids, limit_counted_at__gt=now - timedelta(hours=24)
        )
        .values("provider_id")
        .annotate(
            daily=Count("id"),
            hourly=Count("id", filter=Q(limit_counted_at__gt=now - timedelta(hours=1))),
        )
        .order_by()
    }
    health = {h.provider_id: h for h in ProviderHealth.objects.filter(provider_id__in=ids)}
    return [
        ProviderState(
            provider=provider,
            gauges=[
                Gauge("hourly", provider.hourly_limit, usage.get(provider.pk, {}).get("hourly", 0)),
                Gauge("daily", provider.daily_limit, usage.get(provider.pk, {}).get("daily", 0)),
            ],
            health=health.get(provider.pk),
        )
        for provider in providers
    ]


@dataclass(frozen=True)
class QueueState:
    queued: int
    scheduled: int
    deferred: int
    oldest_due_at: datetime | None
    last_drain_at: datetime | None
    stuck_after: timedelta
    now: datetime = field(default_factory=timezone.now)

    @property
    def oldest_due_age(self) -> timedelta | None:
        return None if self.oldest_due_at is None else self.now - self.oldest_due_at

    @property
    def stuck(self) -> bool:
        age = self.oldest_due_age
        return age is not None and age > self.stuck_after


def queue_state(*, accounts: Iterable[int] | None, now: datetime | None = None) -> QueueState:
    """Items waiting (the partial index of queued items), and when the drain last ran."""
    from django_celery_beat.models import PeriodicTask

    from mail.schedule import QUEUE_DRAIN_SCHEDULE_NAME

    now = now or timezone.now()
    waiting = _scoped(QueueItem.objects.filter(status=QueueItemStatus.QUEUED), accounts)
    figures = waiting.aggregate(
        queued=Count("id", filter=Q(next_attempt_at__lte=now)),
        scheduled=Count("id", filter=Q(next_attempt_at__gt=now, attempts=0)),
        deferred=Count("id", filter=Q(next_attempt_at__gt=now, attempts__gt=0)),
        oldest_due_at=Min("next_attempt_at", filter=Q(next_attempt_at__lte=now)),
    )
    last_drain_at = (
        PeriodicTask.objects.filter(name=QUEUE_DRAIN_SCHEDULE_NAME)
        .values_list("last_run_at", flat=True)
        .first()
    )
    return QueueState(
        queued=figures["queued"],
        scheduled=figures["scheduled"],
        deferred=figures["deferred"],
        oldest_due_at=figures["oldest_due_at"],
        last_drain_at=last_drain_at,
        stuck_after=timedelta(seconds=5 * settings.MAILPASS_QUEUE_DRAIN_INTERVAL),
        now=now,
    )


@dataclass(frozen=True)
class WebhookState:
    available: bool
    failed_deliveries: int = 0
    disabled_endpoints: list = field(default_factory=list)


def webhook_state(*, accounts: Iterable[int] | None, since: datetime) -> WebhookState:
    """Failed deliveries of the period and endpoints switched off (when webhooks exist)."""
    if not apps.is_installed("webhooks"):
        return WebhookState(available=False)
    from dashboard.webhook_figures import webhook_figures

    failed, disabled = webhook_figures(accounts=accounts, since=since)
    return WebhookState(available=True, failed_deliveries=failed, disabled_endpoints=disabled)


def latest_problems(
    *, accounts: Iterable[int] | None, provider_id: int | None = None, limit: int = 10
) -> list[Message]:
    """The newest failed and bounced messages (newest first, by the created_at index)."""
    messages = _scoped(Message.objects.all(), accounts).filter(
        status__in=[MessageStatus.FAILED, MessageStatus.BOUNCED]
    )
    if provider_id is not None:
        messages = messages.filter(provider_id=provider_id)
    return list(
        messages.order_by("-created_at").only(
            "id", "message_id", "to_email", "subject", "status", "error_message", "created_at"
        )[:limit]
    )
