from django.apps import AppConfig


class AccountsConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "accounts"

    def ready(self) -> None:
        from django.contrib import admin

        from accounts import schema  # noqa: F401  (registers the OpenAPI auth extension)
        from mailpass.admin_tenancy import admin_site_confine

        # The admin app (first in INSTALLED_APPS) has loaded every admin module by now: each
        # admin that is not account-scoped becomes operator-only (API.md section 10).
        admin_site_confine(admin.site)
