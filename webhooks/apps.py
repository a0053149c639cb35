from django.apps import AppConfig
from django.db.models.signals import post_migrate, pre_migrate


class WebhooksConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "webhooks"

    def ready(self) -> None:
        from webhooks import signals  # noqa: F401  (the after-commit kick)
        from webhooks.schedule import webhooks_schedule_install
        from webhooks.triggers import sqlite_trigger_drop, sqlite_trigger_ensure

        # The SQLite trigger lives around migrations (see webhooks/triggers.py).
        pre_migrate.connect(sqlite_trigger_drop, dispatch_uid="webhooks-sqlite-trigger-drop")
        post_migrate.connect(
            sqlite_trigger_ensure, sender=self, dispatch_uid="webhooks-sqlite-trigger-ensure"
        )
        post_migrate.connect(
            webhooks_schedule_install, sender=self, dispatch_uid="webhooks-delivery-schedule"
        )
