from django.apps import AppConfig
from django.db.models.signals import post_migrate, pre_migrate


class DashboardConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "dashboard"
    verbose_name = "Dashboard"

    def ready(self) -> None:
        from dashboard.receivers import provider_check_record
        from dashboard.triggers import sqlite_trigger_drop, sqlite_trigger_ensure
        from providers.signals import connection_checked

        connection_checked.connect(provider_check_record, dispatch_uid="dashboard.provider_check")
        # The SQLite counter trigger lives around migrations (see dashboard/triggers.py).
        pre_migrate.connect(sqlite_trigger_drop, dispatch_uid="dashboard-sqlite-trigger-drop")
        post_migrate.connect(
            sqlite_trigger_ensure, sender=self, dispatch_uid="dashboard-sqlite-trigger-ensure"
        )
