import os

from django.core.management.base import BaseCommand, CommandError

from accounts.services import AccountExists, account_create


class Command(BaseCommand):
    help = (
        "Create an account owner: a staff user (not a superuser) in the group 'account owners', "
        "confined to their own account in the admin. Prints the user id alone."
    )

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("--email", default="", help="the owner's email address")
        parser.add_argument(
            "--password-env",
            metavar="VAR",
            help="name of an environment variable holding the password (never a password "
            "on the command line); without it the owner cannot log in until one is set",
        )

    def handle(self, *args, username, email, password_env, **options):
        password = None
        if password_env:
            password = os.environ.get(password_env)
            if not password:
                raise CommandError(f"the environment variable {password_env} is not set or empty")
        try:
            user = account_create(username=username, email=email, password=password)
        except AccountExists:
            raise CommandError(f"a user named {username!r} already exists") from None
        self.stdout.write(str(user.pk))
