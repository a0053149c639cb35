from django.apps import AppConfig


class TemplatingConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "templating"
    verbose_name = "templates"
