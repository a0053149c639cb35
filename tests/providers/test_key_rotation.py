"""Rotating MAILPASS_ENCRYPTION_KEY and SECRET_KEY, end to end (API.md section 20)."""

from io import StringIO
from urllib.parse import urlsplit

import pytest
from cryptography.fernet import Fernet
from django.core.management import CommandError, call_command

from mail.tracking import click_url
from providers.crypto import encrypted_fields
from providers.models import SmtpProvider
from tests.factories import MessageFactory, SmtpProviderFactory

pytestmark = pytest.mark.django_db

OLD, NEW = Fernet.generate_key().decode(), Fernet.generate_key().decode()


def rotate() -> str:
    out = StringIO()
    call_command("rotate_encryption_key", stdout=out)
    return out.getvalue()


def test_old_secrets_are_read_re_encrypted_and_then_need_only_the_new_key(settings, alice):
    settings.MAILPASS_ENCRYPTION_KEY = OLD
    provider = SmtpProviderFactory(account=alice, password="smtp-pw")
    SmtpProvider.objects.filter(pk=provider.pk).update(
        webhook_key_encrypted=SmtpProvider(password="hook-key").password_encrypted
    )
    other = SmtpProviderFactory(account=alice, is_default=False)  # no secret at all
    before = SmtpProvider.objects.get(pk=provider.pk).password_encrypted

    settings.MAILPASS_ENCRYPTION_KEY = f"{NEW},{OLD}"
    assert SmtpProvider.objects.get(pk=provider.pk).password == "smtp-pw"  # old key still reads
    assert rotate().startswith("2 secret(s) re-encrypted, 0 already under the first key")
    assert rotate().startswith("0 secret(s) re-encrypted, 2 already under the first key")

    settings.MAILPASS_ENCRYPTION_KEY = NEW
    stored = SmtpProvider.objects.get(pk=provider.pk)
    assert stored.password_encrypted != before
    assert stored.password == "smtp-pw"
    assert stored.webhook_key_encrypted and SmtpProvider.objects.get(pk=other.pk).password == ""


def test_a_secret_no_key_reads_is_reported_and_left_alone(settings, alice):
    settings.MAILPASS_ENCRYPTION_KEY = OLD
    provider = SmtpProviderFactory(account=alice, password="smtp-pw")
    token = SmtpProvider.objects.get(pk=provider.pk).password_encrypted

    settings.MAILPASS_ENCRYPTION_KEY = NEW
    with pytest.raises(CommandError, match="cannot be decrypted"):
        rotate()
    assert SmtpProvider.objects.get(pk=provider.pk).password_encrypted == token


def test_every_encrypted_field_is_found_for_rotation():
    found = {f"{model._meta.label}.{name}" for model, names in encrypted_fields() for name in names}
    assert {"providers.SmtpProvider.password_encrypted"} <= found


def test_a_tracking_link_signed_with_the_old_secret_key_works_after_rotation(
    settings, client, alice
):
    message = MessageFactory(account=alice)
    old_secret = settings.SECRET_KEY
    path = urlsplit(click_url(message.pk, "https://example.com/order")).path

    settings.SECRET_KEY = "a-brand-new-secret-key-of-at-least-32-characters"
    settings.SECRET_KEY_FALLBACKS = []
    assert client.get(path).status_code == 404  # without the fallback the link is dead

    settings.SECRET_KEY_FALLBACKS = [old_secret]
    response = client.get(path)
    assert response.status_code == 302
    assert response["Location"] == "https://example.com/order"
    assert message.events.filter(event_type="click").count() == 1
