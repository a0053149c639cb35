from django.db import migrations

from accounts.owners import owner_permissions_grant


class Migration(migrations.Migration):
    """Account owners view, add and remove their suppression entries in the admin (s.10/15);
    entries are never edited (remove and add again)."""

    dependencies = [
        ("accounts", "0003_account_owners_group"),
        ("suppressions", "0001_initial"),
    ]

    operations = [
        owner_permissions_grant(
            "suppressions.view_suppression",
            "suppressions.add_suppression",
            "suppressions.delete_suppression",
        )
    ]
