"""The suppression list (API.md section 15): addresses an account no longer sends to."""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.db.models.functions import Lower


class SuppressionReason(models.TextChoices):
    HARD_BOUNCE = "hard_bounce"
    COMPLAINT = "complaint"
    MANUAL = "manual"
    UNSUBSCRIBE = "unsubscribe"


# What a caller of the API may add by hand; the other reasons come from feedback only.
API_REASONS = (SuppressionReason.MANUAL, SuppressionReason.UNSUBSCRIBE)


class Suppression(models.Model):
    """One suppressed address of one account, stored lower-cased (matched on the whole address)."""

    account = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="suppressions"
    )
    email = models.CharField(max_length=254)
    reason = models.CharField(max_length=16, choices=SuppressionReason.choices)
    # The message whose bounce or complaint caused it (null for manual entries).
    message = models.ForeignKey(
        "mail.Message",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        db_constraint=True,
    )
    detail = models.TextField(blank=True, db_default="")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            # The lookup at send time and the idempotent add both rest on this index.
            models.UniqueConstraint(
                fields=["account", "email"], name="suppressions_account_email_unique"
            ),
            # Raw-SQL writers (benchmarks, imports) cannot store a mixed-case address that the
            # send-time lookup would never match.
            models.CheckConstraint(
                condition=Q(email=Lower("email")), name="suppressions_email_lower_case"
            ),
        ]
        indexes = [
            # The API lists an account's entries newest first, by keyset pages.
            models.Index(
                fields=["account", "-created_at", "-id"], name="suppressions_account_newest"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.email} ({self.reason})"
