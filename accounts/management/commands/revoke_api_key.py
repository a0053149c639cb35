from django.core.management.base import BaseCommand, CommandError

from accounts.services import api_key_find_for_revoke, api_key_revoke


class Command(BaseCommand):
    help = "Revoke an API key at once, given the full key or its display prefix (mp_live_abcd)."

    def add_arguments(self, parser):
        parser.add_argument("key_or_prefix")

    def handle(self, *args, key_or_prefix, **options):
        matches = api_key_find_for_revoke(key_or_prefix=key_or_prefix)
        if not matches:
            raise CommandError("no active API key matches that key or prefix")
        if len(matches) > 1:
            raise CommandError(
                f"{len(matches)} active keys share that prefix; give the full key instead"
            )
        api_key = api_key_revoke(api_key=matches[0])
        self.stdout.write(f"revoked {api_key.display} of {api_key.account}")
