from django.core.management.base import BaseCommand, CommandError

from feedback.selectors import provider_webhook_url
from providers.models import FEEDBACK_KINDS, SmtpProvider


class Command(BaseCommand):
    help = (
        "Print the event URL (API.md section 16.1) of an ses, sendgrid or mailgun provider, "
        "alone on stdout, to paste into the provider's console."
    )

    def add_arguments(self, parser):
        parser.add_argument("provider_id", type=int)

    def handle(self, *args, provider_id: int, **options):
        provider = SmtpProvider.objects.filter(pk=provider_id).first()
        if provider is None:
            raise CommandError(f"no provider with id {provider_id}")
        if provider.kind not in FEEDBACK_KINDS:
            raise CommandError(
                f"provider {provider_id} is of kind {provider.kind!r}: only ses, sendgrid and "
                "mailgun providers have an event URL"
            )
        self.stdout.write(provider_webhook_url(provider))
