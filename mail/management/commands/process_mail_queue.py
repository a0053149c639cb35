"""``manage.py process_mail_queue [--limit N]``: drain the queue once, like a worker does."""

from django.core.management.base import BaseCommand, CommandParser

from mail.queue import queue_drain
from mail.services import messages_unfinished_fail


class Command(BaseCommand):
    help = "Send due queued messages once and print how many were sent, deferred and failed."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--limit", type=int, default=None, help="Handle at most N queue items.")

    def handle(self, *args, limit: int | None = None, **options) -> None:
        if limit is not None and limit < 1:
            self.stderr.write("--limit must be at least 1")
            raise SystemExit(2)
        result = queue_drain(limit=limit)
        self.stdout.write(
            f"sent={result.sent} deferred={result.deferred} failed={result.failed}"
            f" suppressed={result.suppressed}"
        )
        closed = messages_unfinished_fail()
        if closed:
            self.stdout.write(f"closed {closed} unfinished single sends (outcome unknown)")
