from django.db import migrations

from accounts.owners import owner_permissions_grant


class Migration(migrations.Migration):
    """Account owners manage their webhook endpoints in the admin (s.10/17): add, change (send a
    test event), delete; they read deliveries and their attempts and replay them (change)."""

    dependencies = [
        ("accounts", "0003_account_owners_group"),
        ("webhooks", "0002_lighter_delivery_rows"),
    ]

    operations = [
        owner_permissions_grant(
            "webhooks.view_webhookendpoint",
            "webhooks.add_webhookendpoint",
            "webhooks.change_webhookendpoint",
            "webhooks.delete_webhookendpoint",
            "webhooks.view_webhookdelivery",
            "webhooks.change_webhookdelivery",
            "webhooks.view_webhookattempt",
        )
    ]
