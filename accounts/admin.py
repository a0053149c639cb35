"""API keys in the admin (issue 2 fills this in: create shown once, list, revoke)."""

from django.contrib import admin

from accounts.models import ApiKey


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin):
    list_display = ("display", "account", "name", "is_test", "created_at", "revoked_at")
