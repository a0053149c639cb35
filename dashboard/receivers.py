"""What the dashboard records when other apps announce something."""

from django.utils import timezone

from dashboard.models import ProviderHealth

# The check's steps can be long (server banners); the panel shows the error, capped.
_DETAIL_MAX = 1000


def provider_check_record(*, provider, check, **_signal) -> None:
    """Keep a provider's last connection test (time, passed or not, why) for its panel."""
    detail = "" if check.ok else (check.error or "; ".join(check.steps))[:_DETAIL_MAX]
    ProviderHealth.objects.update_or_create(
        provider=provider,
        defaults={
            "last_check_at": timezone.now(),
            "last_check_ok": check.ok,
            "last_check_detail": detail,
        },
    )
