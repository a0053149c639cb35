from django.db import migrations

from accounts.owners import owner_permissions_grant


class Migration(migrations.Migration):
    """Account owners manage their own templates in the admin (API.md s.10, s.13)."""

    dependencies = [
        ("accounts", "0003_account_owners_group"),
        ("templating", "0001_initial"),
    ]
    operations = [
        owner_permissions_grant(
            "templating.view_template",
            "templating.add_template",
            "templating.change_template",
            "templating.delete_template",
        )
    ]
