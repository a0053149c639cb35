"""Reading account data."""

from typing import NamedTuple

from django.contrib.auth.models import AbstractBaseUser

from accounts.models import AccountSettings


class TrackingDefaults(NamedTuple):
    track_opens: bool
    track_clicks: bool


def account_tracking_defaults(*, account: AbstractBaseUser) -> TrackingDefaults:
    """The account's tracking defaults (API.md section 3: default on).

    API-key authentication loads the settings row with the account (one JOIN), so on the
    request path this costs no query.
    """
    try:
        account_settings = account.mail_settings
    except AccountSettings.DoesNotExist:
        return TrackingDefaults(track_opens=True, track_clicks=True)
    return TrackingDefaults(account_settings.track_opens, account_settings.track_clicks)
