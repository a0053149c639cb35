"""SMTP relay settings of the services the admin offers as kinds (API.md section 8)."""

from typing import NamedTuple

from providers.models import ProviderKind, Security


class RelayPreset(NamedTuple):
    host: str
    port: int
    security: str


RELAY_PRESETS: dict[str, RelayPreset] = {
    ProviderKind.MAILPASS: RelayPreset("smtp.mailpass.im", 587, Security.STARTTLS),
    # SES hosts are per region; us-east-1 is prefilled and can be edited.
    ProviderKind.SES: RelayPreset("email-smtp.us-east-1.amazonaws.com", 587, Security.STARTTLS),
    ProviderKind.SENDGRID: RelayPreset("smtp.sendgrid.net", 587, Security.STARTTLS),
    ProviderKind.MAILGUN: RelayPreset("smtp.mailgun.org", 587, Security.STARTTLS),
}
