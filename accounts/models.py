"""API keys: the credential every /api/v1 request carries (API.md section 1)."""

from django.conf import settings
from django.db import models

KEY_PREFIX_LIVE = "mp_live_"
KEY_PREFIX_TEST = "mp_test_"
PERMISSION_MAIL = "mail"
PERMISSION_TEMPLATES = "templates"
PERMISSION_SUPPRESSIONS = "suppressions"
PERMISSION_WEBHOOKS = "webhooks"
# API.md section 1: every permission a key may hold.
KNOWN_PERMISSIONS = (
    PERMISSION_MAIL,
    PERMISSION_TEMPLATES,
    PERMISSION_SUPPRESSIONS,
    PERMISSION_WEBHOOKS,
)


def default_permissions() -> list[str]:
    return [PERMISSION_MAIL]


class ApiKey(models.Model):
    """A key is stored only as a SHA-256 hash, plus a short prefix and its last 4 characters.

    Keys carry 256 bits of randomness, so a fast hash is enough: there is nothing to brute-force.
    """

    account = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_keys"
    )
    name = models.CharField(max_length=100, blank=True)
    key_hash = models.CharField(max_length=64, unique=True, editable=False)
    prefix = models.CharField(max_length=16, editable=False, db_index=True)
    last_four = models.CharField(max_length=4, editable=False)
    is_test = models.BooleanField(default=False, editable=False)
    permissions = models.JSONField(default=default_permissions)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True, editable=False)
    revoked_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = "API key"

    def __str__(self) -> str:
        return f"{self.display} ({self.account})"

    @property
    def display(self) -> str:
        return f"{self.prefix}…{self.last_four}"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None

    def has_permission(self, name: str) -> bool:
        return name in (self.permissions or [])


class AccountSettings(models.Model):
    """Per-account defaults of the mail API; an account without a row uses the defaults here."""

    account = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="mail_settings"
    )
    track_opens = models.BooleanField(
        default=True, help_text="Add an open pixel to html mail unless the request says otherwise."
    )
    track_clicks = models.BooleanField(
        default=True, help_text="Rewrite http(s) links unless the request says otherwise."
    )

    class Meta:
        verbose_name = "account settings"
        verbose_name_plural = "account settings"

    def __str__(self) -> str:
        return f"settings of {self.account}"
