import os

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from accounts.services import account_get_or_create
from providers.models import ProviderKind, Security
from providers.services import provider_create


class Command(BaseCommand):
    help = (
        "Add an SMTP provider to USERNAME's account and print its id (alone, on stdout). "
        "The password is read from the environment variable named by --password-env, never "
        "from the command line (it would end up in the shell history and the process list)."
    )

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("--name", required=True)
        parser.add_argument("--host", required=True)
        parser.add_argument("--port", type=int, required=True)
        parser.add_argument("--security", choices=Security.values, default=Security.STARTTLS)
        parser.add_argument("--kind", choices=ProviderKind.values, default=ProviderKind.SMTP)
        parser.add_argument("--username", dest="smtp_username", default="")
        parser.add_argument("--password-env", metavar="VAR", help="environment variable name")
        parser.add_argument(
            "--webhook-key-env",
            metavar="VAR",
            help="environment variable holding the event-webhook verification key "
            "(Mailgun's signing key, SendGrid's public key)",
        )
        parser.add_argument("--from-email", default="")
        parser.add_argument("--from-name", default="")
        parser.add_argument("--hourly-limit", type=int)
        parser.add_argument("--daily-limit", type=int)
        parser.add_argument("--timeout", type=float, default=10.0, help="seconds (default 10)")
        parser.add_argument(
            "--default",
            action="store_true",
            dest="make_default",
            help="make it the account's default (the former default stops being one)",
        )

    def handle(
        self, *args, username, password_env, webhook_key_env, smtp_username, make_default, **options
    ):
        account = account_get_or_create(username=username, create=False)
        if account is None:
            raise CommandError(f"no user named {username!r}")
        password = ""
        if password_env:
            if password_env not in os.environ:
                raise CommandError(f"the environment variable {password_env} is not set")
            password = os.environ[password_env]
        webhook_key = ""
        if webhook_key_env:
            if webhook_key_env not in os.environ:
                raise CommandError(f"the environment variable {webhook_key_env} is not set")
            webhook_key = os.environ[webhook_key_env]
        try:
            provider = provider_create(
                account=account,
                name=options["name"],
                kind=options["kind"],
                host=options["host"],
                port=options["port"],
                security=options["security"],
                username=smtp_username,
                password=password,
                from_email=options["from_email"],
                from_name=options["from_name"],
                hourly_limit=options["hourly_limit"],
                daily_limit=options["daily_limit"],
                timeout=options["timeout"],
                make_default=make_default,
                webhook_key=webhook_key,
            )
        except ValidationError as exc:
            problems = "; ".join(
                f"{field}: {' '.join(errors)}" for field, errors in exc.message_dict.items()
            )
            raise CommandError(f"invalid provider: {problems}") from exc
        self.stdout.write(str(provider.pk))
