"""Webhook endpoints of an account, and the deliveries of events to them (API.md section 17).

A delivery row is the outbox: it is written by a database trigger in the same transaction as the
``MessageEvent`` that causes it (see ``webhooks/triggers.py`` and docs/webhooks.md), and a worker
claims it when it is due. Each attempt is kept in its own row.
"""

from django.conf import settings
from django.db import models
from django.db.models import Q

from providers.crypto import secret_decrypt, secret_encrypt


class WebhookEndpoint(models.Model):
    account = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="webhook_endpoints"
    )
    url = models.URLField(max_length=2048)
    # Event types of section 17; empty means all of them.
    events = models.JSONField(default=list, blank=True)
    description = models.CharField(max_length=255, blank=True)
    active = models.BooleanField(default=True)
    # Secrets are encrypted at rest (Fernet); the plain secret is shown when made, never again.
    secret_encrypted = models.TextField(editable=False)
    # The secret before the last rotation: it signs too, until previous_secret_expires_at.
    previous_secret_encrypted = models.TextField(blank=True, editable=False)
    previous_secret_expires_at = models.DateTimeField(null=True, blank=True, editable=False)
    # Health: why it was switched off; since when every attempt failed (null after a success).
    disabled_reason = models.CharField(max_length=255, blank=True)
    failing_since = models.DateTimeField(null=True, blank=True, editable=False)
    last_attempt_at = models.DateTimeField(null=True, blank=True, editable=False)
    last_success_at = models.DateTimeField(null=True, blank=True, editable=False)
    last_status_code = models.PositiveSmallIntegerField(null=True, blank=True, editable=False)
    last_error = models.TextField(blank=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["created_at", "id"]
        verbose_name = "webhook endpoint"
        indexes = [
            # The trigger looks up the active endpoints of the event's account on every event.
            models.Index(
                fields=["account"], name="webhooks_endpoint_active", condition=Q(active=True)
            ),
        ]

    def __str__(self) -> str:
        return self.url

    @property
    def secret(self) -> str:
        return secret_decrypt(self.secret_encrypted)

    @secret.setter
    def secret(self, plain: str) -> None:
        self.secret_encrypted = secret_encrypt(plain)

    @property
    def previous_secret(self) -> str:
        return secret_decrypt(self.previous_secret_encrypted)


class DeliveryStatus(models.TextChoices):
    PENDING = "pending"  # due at next_attempt_at
    DELIVERING = "delivering"  # claimed by a worker until locked_until
    DELIVERED = "delivered"
    FAILED = "failed"  # every attempt of the schedule failed


class WebhookDelivery(models.Model):
    """One event for one endpoint. ``webhook_id`` is the same on every attempt and replay."""

    # Few indexes and foreign keys: the trigger writes these rows on the sending path. The
    # (endpoint, created_at) index serves the endpoint's foreign key too.
    endpoint = models.ForeignKey(
        WebhookEndpoint, on_delete=models.CASCADE, related_name="deliveries", db_index=False
    )
    # The account, for the admin's scoping and lists (the endpoint's; no foreign key to check).
    account = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        db_index=False,
        related_name="webhook_deliveries",
    )
    # Null for webhook.test.
    event = models.ForeignKey(
        "mail.MessageEvent",
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="webhook_deliveries",
    )
    event_type = models.CharField(max_length=32)
    # The message's status as of the event (data.status), fixed when the event was written.
    message_status = models.CharField(max_length=16, blank=True)
    # 128 random bits; not indexed (the admin's search scans one account's rows).
    webhook_id = models.CharField(max_length=64)
    status = models.CharField(
        max_length=16, choices=DeliveryStatus.choices, default=DeliveryStatus.PENDING
    )
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    locked_until = models.DateTimeField(null=True, blank=True)
    locked_by = models.CharField(max_length=64, blank=True)
    last_status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    last_latency_ms = models.PositiveIntegerField(null=True, blank=True)
    last_response = models.TextField(blank=True)  # the first 1 KiB of the answer
    last_error = models.TextField(blank=True)
    created_at = models.DateTimeField()
    delivered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name_plural = "webhook deliveries"
        indexes = [
            # Claiming looks at one endpoint's due deliveries; finished rows stay out.
            models.Index(
                fields=["endpoint", "next_attempt_at"],
                name="webhooks_delivery_due",
                condition=Q(status="pending"),
            ),
            models.Index(
                fields=["locked_until"],
                name="webhooks_delivery_leased",
                condition=Q(status="delivering"),
            ),
            models.Index(fields=["endpoint", "-created_at"], name="webhooks_delivery_endpoint"),
        ]

    def __str__(self) -> str:
        return f"{self.event_type} to {self.endpoint_id} ({self.status})"


class WebhookAttempt(models.Model):
    """One POST of a delivery, with its outcome."""

    delivery = models.ForeignKey(
        WebhookDelivery, on_delete=models.CASCADE, related_name="attempt_log"
    )
    attempted_at = models.DateTimeField()
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    latency_ms = models.PositiveIntegerField(null=True, blank=True)
    response = models.TextField(blank=True)  # the first 1 KiB of the answer
    error = models.TextField(blank=True)
    success = models.BooleanField(default=False)

    class Meta:
        ordering = ["attempted_at", "id"]

    def __str__(self) -> str:
        return f"attempt of delivery {self.delivery_id}"
