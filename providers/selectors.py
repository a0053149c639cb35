"""Reading providers."""

from django.contrib.auth.models import AbstractBaseUser

from providers.models import SmtpProvider


class NotRead:
    """The type of ``NOT_READ``: "not read yet", as opposed to None, "read: there is none"."""


NOT_READ = NotRead()


def provider_get_default(*, account: AbstractBaseUser | int) -> SmtpProvider | None:
    """The account's active default provider, or None (the API answers NO_SMTP_PROVIDER)."""
    account_id = account if isinstance(account, int) else account.pk
    return SmtpProvider.objects.filter(
        account_id=account_id, is_default=True, is_active=True
    ).first()
