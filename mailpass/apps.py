from django.contrib.admin.apps import AdminConfig


class MailPassAdminConfig(AdminConfig):
    """Django's admin, with MailPass's site: the dashboard as home page and its navigation."""

    default_site = "mailpass.admin_site.MailPassAdminSite"
