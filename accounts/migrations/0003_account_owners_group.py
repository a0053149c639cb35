"""The group ``account owners`` with what an owner may do in the admin (API.md sections 10, 20)."""

from django.conf import settings
from django.db import migrations

from accounts.owners import PART1_OWNER_PERMISSIONS, owner_permissions_grant


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0002_account_settings"),
        ("providers", "0001_initial"),
        ("mail", "0003_lifecycle_and_richer_messages"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [owner_permissions_grant(*PART1_OWNER_PERMISSIONS)]
