import pytest
from django.db import IntegrityError, connection, transaction

from providers.crypto import secret_decrypt
from providers.models import SmtpProvider
from tests.factories import SmtpProviderFactory

PASSWORD = "s3cret-Pässword"


def raw_password_column(provider_id: int) -> str:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT password_encrypted FROM providers_smtpprovider WHERE id = %s", [provider_id]
        )
        return cursor.fetchone()[0]


@pytest.mark.django_db
def test_the_password_is_stored_encrypted(alice):
    provider = SmtpProviderFactory(account=alice, password=PASSWORD)
    raw = raw_password_column(provider.pk)
    assert PASSWORD not in raw
    assert raw.startswith("gAAAA")  # a Fernet token
    assert secret_decrypt(raw) == PASSWORD
    assert SmtpProvider.objects.get(pk=provider.pk).password == PASSWORD


@pytest.mark.django_db
def test_two_defaults_for_one_account_are_refused_by_the_database(alice, bob):
    SmtpProviderFactory(account=alice, is_default=True)
    SmtpProviderFactory(account=bob, is_default=True)  # another account: fine
    SmtpProviderFactory(account=alice, is_default=False)  # not a default: fine
    with pytest.raises(IntegrityError), transaction.atomic():
        SmtpProvider.objects.create(account=alice, name="second", host="h", is_default=True)
