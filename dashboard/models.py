"""Counters the dashboard reads instead of counting messages and events.

A database trigger on ``mail_messageevent`` (see the migration) keeps them as events are
written, by whatever code path writes them (raw SQL included), in the same transaction. The
page then sums a few thousand counter rows, never the millions of messages behind them.
"""

from django.conf import settings
from django.db import models


class EventCount(models.Model):
    """How many events of a type an account's provider had in one hour.

    ``open`` and ``click`` count each message once (its first open or click). Test-key
    messages are not counted. ``shard`` spreads concurrent increments over several rows so
    that sends do not queue up on one hot counter row.
    """

    account = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+"
    )
    # Not a foreign key: the counts outlive a deleted provider (0 = no provider).
    provider_id = models.BigIntegerField()
    hour = models.DateTimeField()
    event_type = models.CharField(max_length=16)
    shard = models.PositiveSmallIntegerField()
    count = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["account", "provider_id", "hour", "event_type", "shard"],
                name="dashboard_eventcount_unique",
            )
        ]
        indexes = [models.Index(fields=["hour"], name="dashboard_eventcount_hour")]

    def __str__(self) -> str:
        return f"{self.count} {self.event_type} at {self.hour:%Y-%m-%d %H}:00"


class ProviderHealth(models.Model):
    """A provider's last problem: the last failed or deferred message, the last check."""

    provider = models.OneToOneField(
        "providers.SmtpProvider", on_delete=models.CASCADE, primary_key=True, related_name="health"
    )
    last_problem_at = models.DateTimeField(null=True, blank=True)
    last_problem_kind = models.CharField(max_length=16, blank=True)
    last_problem_detail = models.TextField(blank=True)
    last_check_at = models.DateTimeField(null=True, blank=True)
    last_check_ok = models.BooleanField(null=True)
    last_check_detail = models.TextField(blank=True)

    def __str__(self) -> str:
        return f"health of provider {self.provider_id}"
