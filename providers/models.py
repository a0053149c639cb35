"""SMTP providers: where an account's mail goes out (API.md section 8)."""

import secrets

from django.conf import settings
from django.db import models
from django.db.models import Q

from providers.crypto import secret_decrypt, secret_encrypt


class ProviderKind(models.TextChoices):
    MAILPASS = "mailpass", "MailPass SMTP"
    SES = "ses", "Amazon SES"
    SENDGRID = "sendgrid", "SendGrid"
    MAILGUN = "mailgun", "Mailgun"
    SMTP = "smtp", "Other SMTP server"


# Kinds whose event webhooks MailPass reads (API.md section 16.1).
FEEDBACK_KINDS = frozenset({ProviderKind.SES, ProviderKind.SENDGRID, ProviderKind.MAILGUN})


def webhook_token_generate() -> str:
    """The secret part of a provider's event URL (192 random bits)."""
    return secrets.token_urlsafe(24)


class Security(models.TextChoices):
    NONE = "none", "None (plain SMTP)"
    STARTTLS = "starttls", "STARTTLS"
    SSL = "ssl", "SSL/TLS (implicit)"


class SmtpProvider(models.Model):
    account = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="smtp_providers"
    )
    name = models.CharField(max_length=100)
    kind = models.CharField(max_length=16, choices=ProviderKind.choices, default=ProviderKind.SMTP)
    host = models.CharField(max_length=255)
    port = models.PositiveIntegerField(default=587)
    security = models.CharField(max_length=16, choices=Security.choices, default=Security.STARTTLS)
    username = models.CharField(max_length=255, blank=True)
    password_encrypted = models.TextField(blank=True, editable=False)
    from_email = models.EmailField(blank=True, help_text="Default sender address.")
    from_name = models.CharField(max_length=255, blank=True, help_text="Default sender name.")
    hourly_limit = models.PositiveIntegerField(
        null=True, blank=True, help_text="Messages per rolling 60 minutes; empty: no limit."
    )
    daily_limit = models.PositiveIntegerField(
        null=True, blank=True, help_text="Messages per rolling 24 hours; empty: no limit."
    )
    timeout = models.FloatField(default=10.0, help_text="SMTP timeout in seconds.")
    is_active = models.BooleanField(default=True)
    # Section 16: the random token of the provider's event URL, and the key that verifies its
    # events (Mailgun's webhook signing key, SendGrid's public key), encrypted like the password.
    webhook_token = models.CharField(
        max_length=64, unique=True, default=webhook_token_generate, editable=False
    )
    webhook_key_encrypted = models.TextField(blank=True, editable=False, default="", db_default="")
    is_default = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["account_id", "name"]
        verbose_name = "SMTP provider"
        constraints = [
            models.UniqueConstraint(
                fields=["account"],
                condition=Q(is_default=True),
                name="providers_one_default_per_account",
            ),
            models.CheckConstraint(
                condition=Q(port__gte=1) & Q(port__lte=65535), name="providers_port_range"
            ),
            models.CheckConstraint(condition=Q(timeout__gt=0), name="providers_timeout_positive"),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.host}:{self.port})"

    @property
    def password(self) -> str:
        return secret_decrypt(self.password_encrypted)

    @password.setter
    def password(self, value: str) -> None:
        self.password_encrypted = secret_encrypt(value)

    @property
    def webhook_key(self) -> str:
        return secret_decrypt(self.webhook_key_encrypted)

    @webhook_key.setter
    def webhook_key(self, value: str) -> None:
        self.webhook_key_encrypted = secret_encrypt(value.strip())
