from django.apps import AppConfig


class SuppressionsConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "suppressions"
    verbose_name = "Suppression list"
