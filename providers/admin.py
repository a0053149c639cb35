"""The SMTP settings dashboard (issue 2 fills this in: password form, presets, actions)."""

from django.contrib import admin

from providers.models import SmtpProvider


@admin.register(SmtpProvider)
class SmtpProviderAdmin(admin.ModelAdmin):
    list_display = ("name", "account", "host", "port", "security", "is_default", "is_active")
