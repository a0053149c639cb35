import time
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from providers.sink import sink_start


class Command(BaseCommand):
    help = (
        "Run a development SMTP server that accepts every message, prints from, to, subject "
        "and Message-ID, and keeps the raw .eml files (default: MAILPASS_DATA_DIR/sink)."
    )

    def add_arguments(self, parser):
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=1025)
        parser.add_argument("--dir", dest="directory", help="where the .eml files go")

    def handle(self, *args, host, port, directory, **options):
        folder = Path(directory) if directory else settings.DATA_DIR / "sink"
        try:
            controller = sink_start(host=host, port=port, directory=folder, out=self.stdout)
        except OSError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(f"SMTP sink listening on {host}:{port}; messages are kept in {folder}")
        self.stdout.write("Quit with CONTROL-C.")
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            pass
        finally:
            controller.stop()
