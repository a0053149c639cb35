from django.apps import AppConfig


class DashboardConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "dashboard"
    verbose_name = "Dashboard"

    def ready(self) -> None:
        from dashboard.receivers import provider_check_record
        from dashboard.triggers import SQLITE_TRIGGER
        from mailpass.sqlite_triggers import sqlite_trigger_around_migrations
        from providers.signals import connection_checked

        connection_checked.connect(provider_check_record, dispatch_uid="dashboard.provider_check")
        sqlite_trigger_around_migrations(self, SQLITE_TRIGGER)
