from django.apps import AppConfig
from django.db.models.signals import post_migrate


class WebhooksConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "webhooks"

    def ready(self) -> None:
        from mailpass.sqlite_triggers import sqlite_trigger_around_migrations
        from webhooks import signals  # noqa: F401  (the after-commit kick)
        from webhooks.schedule import webhooks_schedule_install
        from webhooks.triggers import SQLITE_TRIGGER

        sqlite_trigger_around_migrations(self, SQLITE_TRIGGER)
        post_migrate.connect(
            webhooks_schedule_install, sender=self, dispatch_uid="webhooks-delivery-schedule"
        )
