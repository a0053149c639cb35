from pathlib import Path

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand

from accounts.models import ApiKey
from accounts.services import account_get_or_create, api_key_create
from mailpass.embedded_beat import embedded_beat_start
from providers.models import Security, SmtpProvider
from providers.services import provider_create
from providers.sink import sink_start

DEMO_USERNAME = "demo"
DEMO_KEY_NAME = "quickstart"
SINK_PROVIDER_NAME = "Development sink"


class Command(BaseCommand):
    help = (
        "First run in one step: apply migrations, create the demo user with an API key "
        "(printed once) and a default provider pointing at the development SMTP sink, then "
        "run the sink and the development server."
    )

    def add_arguments(self, parser):
        parser.add_argument("--addrport", default="127.0.0.1:8000", help="the web server's address")
        parser.add_argument("--sink-port", type=int, default=1025)
        parser.add_argument(
            "--setup-only", action="store_true", help="prepare the database, start nothing"
        )

    def handle(self, *args, addrport, sink_port, setup_only, **options):
        call_command("migrate", interactive=False, verbosity=0)
        self.stdout.write("Database ready (migrations applied).")
        account = account_get_or_create(username=DEMO_USERNAME, create=True)
        key_text = self._demo_key(account)
        self._demo_provider(account, sink_port)

        base_url = f"http://{addrport}"
        self.stdout.write(
            "\nTry it (a message goes to the sink, which prints it):\n\n"
            f"  curl -X POST {base_url}/api/v1/mail/send \\\n"
            f'    -H "Authorization: Bearer {key_text}" \\\n'
            '    -H "Content-Type: application/json" \\\n'
            '    -d \'{"to": "user@example.com", "subject": "Hello", '
            '"html": "<p>Hello World</p>"}\'\n\n'
            f"The admin is at {base_url}/admin/ (create a login with: "
            ".venv/bin/python manage.py createsuperuser), the API docs at "
            f"{base_url}/api/docs/.\n"
            f"More keys: .venv/bin/python manage.py create_api_key {DEMO_USERNAME} (or USERNAME "
            "--create-user).\n"
            "A real SMTP provider: in the admin (SMTP providers > Add), or\n"
            f"  SMTP_PASSWORD=... .venv/bin/python manage.py add_smtp_provider {DEMO_USERNAME} --name Relay "
            "--host smtp.example.com --port 587 --username USER --password-env SMTP_PASSWORD "
            "--from-email you@example.com --default\n"
        )
        if setup_only:
            return

        # WhiteNoise warns at start-up when STATIC_ROOT is missing (before collectstatic).
        Path(settings.STATIC_ROOT).mkdir(parents=True, exist_ok=True)
        sink_dir = settings.DATA_DIR / "sink"
        try:
            sink = sink_start(host="127.0.0.1", port=sink_port, directory=sink_dir, out=self.stdout)
            self.stdout.write(
                f"SMTP sink listening on 127.0.0.1:{sink_port} (mail kept in {sink_dir})"
            )
        except OSError as exc:
            sink = None
            self.stderr.write(f"The SMTP sink did not start ({exc}); is one already running?")
        beat = None
        if settings.CELERY_TASK_ALWAYS_EAGER:
            # No broker, so no celery-beat: its schedule runs in this process.
            beat = embedded_beat_start()
            self.stdout.write(
                "Periodic tasks (scheduled sends, retries, webhooks) run in this process."
            )
        try:
            # No autoreloader: it would run this command again in a child process.
            call_command("runserver", addrport, use_reloader=False)
        finally:
            if beat is not None:
                beat.stop()
            if sink is not None:
                sink.stop()

    def _demo_key(self, account) -> str:
        existing = ApiKey.objects.filter(
            account=account, name=DEMO_KEY_NAME, revoked_at__isnull=True
        ).first()
        if existing is None:
            created = api_key_create(account=account, name=DEMO_KEY_NAME)
            self.stdout.write(
                f"API key of the user '{DEMO_USERNAME}' (shown only this once, copy it now):\n\n"
                f"  {created.plain_key}\n"
            )
            return created.plain_key
        self.stdout.write(
            f"The user '{DEMO_USERNAME}' already has its quickstart key {existing.display} "
            "(only shown when created). A new key: .venv/bin/python manage.py create_api_key "
            f"{DEMO_USERNAME}"
        )
        return "YOUR_API_KEY"

    def _demo_provider(self, account, sink_port: int) -> None:
        if not SmtpProvider.objects.filter(account=account).exists():
            provider_create(
                account=account,
                name=SINK_PROVIDER_NAME,
                host="127.0.0.1",
                port=sink_port,
                security=Security.NONE,
                from_email="support@example.com",
                from_name="MailPass demo",
                make_default=True,
            )
        # A later run with another --sink-port moves the demo provider to it.
        SmtpProvider.objects.filter(
            account=account, name=SINK_PROVIDER_NAME, host="127.0.0.1"
        ).exclude(port=sink_port).update(port=sink_port)
        default = SmtpProvider.objects.filter(account=account, is_default=True).first()
        if default is None:
            self.stdout.write(f"The user '{DEMO_USERNAME}' has no default SMTP provider.")
        else:
            self.stdout.write(
                f"Default SMTP provider of '{DEMO_USERNAME}': {default.name} "
                f"({default.host}:{default.port})"
            )
