"""Stored message templates (API.md section 13)."""

from django.conf import settings
from django.core.validators import RegexValidator
from django.db import models

NAME_PATTERN = r"^[a-z0-9_-]{1,100}$"


class Template(models.Model):
    """A template of an account: subject, html and text in the engine's syntax."""

    account = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="templates"
    )
    name = models.CharField(
        max_length=100,
        validators=[RegexValidator(NAME_PATTERN, "1..100 characters of a-z 0-9 _ -")],
    )
    subject = models.CharField(max_length=998)
    html = models.TextField(blank=True)
    text = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["account", "name"]
        constraints = [
            models.UniqueConstraint(fields=["account", "name"], name="templating_name_per_account")
        ]

    def __str__(self) -> str:
        return self.name
