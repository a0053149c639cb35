"""The admin site as MailPass's console: named for the product, the dashboard as its home,
and navigation in the words an email sender uses."""

from django.contrib import admin
from django.http import HttpRequest, HttpResponse
from django.urls import path

# (app label, model object name) -> navigation label, in the order the navigation shows them.
NAVIGATION: tuple[tuple[str, str, str], ...] = (
    ("providers", "SmtpProvider", "Providers"),
    ("mail", "Message", "Messages"),
    ("mail", "QueueItem", "Queue"),
    ("templating", "Template", "Templates"),
    ("suppressions", "Suppression", "Suppressions"),
    ("webhooks", "WebhookEndpoint", "Webhooks"),
    ("accounts", "ApiKey", "API keys"),
    ("accounts", "AccountSettings", "Settings"),
)
EMAIL_SECTION = "Email"


class MailPassAdminSite(admin.AdminSite):
    site_header = "MailPass"
    site_title = "MailPass"
    index_title = "Dashboard"

    def get_urls(self):
        from dashboard.views import provider_dashboard

        urls = super().get_urls()
        extra = [
            path(
                "dashboard/provider/<int:provider_id>/",
                self.admin_view(
                    lambda request, provider_id: provider_dashboard(self, request, provider_id)
                ),
                name="dashboard_provider",
            )
        ]
        return extra + urls

    def index(self, request: HttpRequest, extra_context: dict | None = None) -> HttpResponse:
        from dashboard.views import dashboard

        return dashboard(self, request)

    def get_app_list(self, request: HttpRequest, app_label: str | None = None) -> list[dict]:
        """The sender's models in one "Email" section, in NAVIGATION's order and words;
        everything else (users, schedules: operators only) after it, unchanged."""
        app_list = super().get_app_list(request, app_label)
        if app_label is not None:
            return app_list
        order = {(app, model): (i, label) for i, (app, model, label) in enumerate(NAVIGATION)}
        email_models, others = [], []
        for app in app_list:
            rest = []
            for model in app["models"]:
                key = (app["app_label"], model["object_name"])
                if key in order:
                    position, label = order[key]
                    email_models.append((position, {**model, "name": label}))
                else:
                    rest.append(model)
            if rest:
                others.append({**app, "models": rest})
        if not email_models:
            return others
        email = {
            "name": EMAIL_SECTION,
            "app_label": "email",
            "app_url": "",
            "has_module_perms": True,
            "models": [model for _, model in sorted(email_models, key=lambda item: item[0])],
        }
        return [email, *others]
