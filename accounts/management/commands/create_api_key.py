from django.core.management.base import BaseCommand, CommandError

from accounts.models import KNOWN_PERMISSIONS
from accounts.services import account_get_or_create, api_key_create


class Command(BaseCommand):
    help = "Create an API key for USERNAME and print it (alone, on stdout). It is shown only once."

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument(
            "--permission",
            action="append",
            dest="permissions",
            metavar="NAME",
            help=f"a permission of the key; repeatable (default: mail; known: {KNOWN_PERMISSIONS})",
        )
        parser.add_argument("--test", action="store_true", help="create an mp_test_ key")
        parser.add_argument("--name", default="", help="a label for the key")
        parser.add_argument(
            "--create-user", action="store_true", help="create the user if it does not exist"
        )

    def handle(self, *args, username, permissions, test, name, create_user, **options):
        unknown = sorted(set(permissions or []) - set(KNOWN_PERMISSIONS))
        if unknown:
            raise CommandError(f"unknown permission(s): {', '.join(unknown)}")
        account = account_get_or_create(username=username, create=create_user)
        if account is None:
            raise CommandError(f"no user named {username!r} (pass --create-user to create it)")
        created = api_key_create(account=account, name=name, permissions=permissions, is_test=test)
        self.stdout.write(created.plain_key)
