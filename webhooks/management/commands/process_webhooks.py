from django.core.management.base import BaseCommand, CommandError

from webhooks.delivery import webhooks_run


class Command(BaseCommand):
    help = "Deliver the webhook deliveries that are due, once; print what succeeded, was retried "
    "later and failed."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--limit", type=int, default=None, help="at most N deliveries")

    def handle(self, *args, limit: int | None = None, **options) -> None:
        if limit is not None and limit < 1:
            raise CommandError("--limit must be 1 or more.")
        result = webhooks_run(limit=limit)
        self.stdout.write(
            f"delivered={result.delivered} retried={result.retried} failed={result.failed}"
        )
