from django.core.management.base import BaseCommand, CommandError

from providers.crypto import secrets_rotate


class Command(BaseCommand):
    help = (
        "Re-encrypt every stored secret (every *_encrypted field) with the first key of "
        "MAILPASS_ENCRYPTION_KEY; prints how many changed."
    )

    def handle(self, *args, **options):
        result = secrets_rotate()
        self.stdout.write(
            f"{result.changed} secret(s) re-encrypted, {result.current} already under the "
            f"first key, {result.unreadable} unreadable with every key (left unchanged)"
        )
        if result.unreadable:
            raise CommandError(
                "some secrets cannot be decrypted with any configured key: add the key they "
                "were written with to MAILPASS_ENCRYPTION_KEY (after the first) and run again."
            )
