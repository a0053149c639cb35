"""The group ``account owners`` and what its members may do in the admin (API.md section 10).

An account owner is a staff user (not a superuser) in this group; ``AccountScopedAdmin``
confines them to their own account's rows, and these permissions say which of view, add,
change and delete they have on each model. The group is created by
``accounts/migrations/0003_account_owners_group.py``.

A new app whose models owners manage grants the permissions in one migration operation::

    from accounts.owners import owner_permissions_grant

    class Migration(migrations.Migration):
        dependencies = [("accounts", "0003_account_owners_group"), ("templating", "0001_initial")]
        operations = [owner_permissions_grant("templating.view_template", "templating.add_template")]
"""

from django.contrib.auth.management import create_permissions
from django.db import migrations

from mailpass.admin_tenancy import OWNER_GROUP

# What owners may do with the models of Part 1. Keys are revoked (change), not deleted; the
# message log is read-only; failed queue items can be requeued (change).
PART1_OWNER_PERMISSIONS = (
    "accounts.view_apikey",
    "accounts.add_apikey",
    "accounts.change_apikey",
    "accounts.view_accountsettings",
    "accounts.add_accountsettings",
    "accounts.change_accountsettings",
    "providers.view_smtpprovider",
    "providers.add_smtpprovider",
    "providers.change_smtpprovider",
    "providers.delete_smtpprovider",
    "mail.view_message",
    "mail.view_messageevent",
    "mail.view_queueitem",
    "mail.change_queueitem",
)


def _grant(apps, schema_editor, permissions: tuple[str, ...]) -> None:
    # Permissions are normally created after all migrations (post_migrate); on a fresh database
    # they do not exist yet when this runs, so they are created here first for these apps.
    for label in sorted({name.split(".")[0] for name in permissions}):
        app_config = apps.get_app_config(label)
        app_config.models_module = True
        create_permissions(app_config, apps=apps, verbosity=0)
        app_config.models_module = None
    group_model = apps.get_model("auth", "Group")
    permission_model = apps.get_model("auth", "Permission")
    group, _ = group_model.objects.get_or_create(name=OWNER_GROUP)
    for name in permissions:
        label, codename = name.split(".")
        group.permissions.add(
            permission_model.objects.get(content_type__app_label=label, codename=codename)
        )


def _revoke(apps, schema_editor, permissions: tuple[str, ...]) -> None:
    group = apps.get_model("auth", "Group").objects.filter(name=OWNER_GROUP).first()
    if group is None:
        return
    for name in permissions:
        label, codename = name.split(".")
        group.permissions.remove(
            *group.permissions.filter(content_type__app_label=label, codename=codename)
        )


def owner_permissions_grant(*permissions: str) -> migrations.RunPython:
    """A migration operation giving the group ``account owners`` these permissions
    (``"app_label.codename"``); reversed, it takes them away again."""
    return migrations.RunPython(
        lambda apps, schema_editor: _grant(apps, schema_editor, permissions),
        lambda apps, schema_editor: _revoke(apps, schema_editor, permissions),
    )
