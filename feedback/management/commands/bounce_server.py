import signal
import threading

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from feedback.bounce_server import bounce_controller


class Command(BaseCommand):
    help = (
        "Run the SMTP server of MAILPASS_BOUNCE_DOMAIN: it reads the bounces (DSNs) sent to "
        "the VERP addresses of sent messages and records bounced/deferred events."
    )

    def add_arguments(self, parser):
        parser.add_argument("--host", default="0.0.0.0")
        parser.add_argument("--port", type=int, default=25)

    def handle(self, *args, host: str, port: int, **options):
        if not settings.MAILPASS_BOUNCE_DOMAIN:
            raise CommandError("MAILPASS_BOUNCE_DOMAIN is not set: there is no bounce domain")
        controller = bounce_controller(host=host, port=port)
        controller.start()
        self.stdout.write(f"bounce server for @{settings.MAILPASS_BOUNCE_DOMAIN} on {host}:{port}")
        self.stdout.flush()
        stop = threading.Event()
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, lambda *_: stop.set())
        stop.wait()
        controller.stop()
