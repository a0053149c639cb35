from django.apps import AppConfig
from django.db.models.signals import post_migrate


class MailConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "mail"

    def ready(self) -> None:
        from mail import (
            schema,  # noqa: F401  (registers the OpenAPI serializer extension)
            tasks,  # noqa: F401  (registers the Celery tasks, enqueued by name)
        )
        from mail.schedule import queue_drain_schedule_install

        post_migrate.connect(
            queue_drain_schedule_install, sender=self, dispatch_uid="mail-drain-schedule"
        )
