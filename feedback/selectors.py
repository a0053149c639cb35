"""Finding the message a feedback event concerns, only ever within one account."""

from django.conf import settings
from django.db.models import Q
from django.urls import reverse

from mail.models import Message
from providers.models import FEEDBACK_KINDS, ProviderKind, SmtpProvider


def message_for_feedback(
    *, account_id: int, provider_id: int | None, message_id: str, provider_message_id: str
) -> Message | None:
    """The account's message with this Message-ID, or this provider's with this provider id.

    Both lookups are indexed (the unique Message-ID; provider + provider id); a message of
    another account is never returned, whatever the event claims.
    """
    match = Q()
    if message_id:
        match |= Q(message_id=message_id)
    if provider_message_id and provider_id is not None:
        match |= Q(provider_id=provider_id, provider_message_id=provider_message_id)
    if not match:
        return None
    return (
        Message.objects.filter(match, account_id=account_id)
        .only("pk", "account_id", "message_id", "to_email", "cc", "bcc", "status", "is_test")
        .first()
    )


def message_recipients(message: Message) -> set[str]:
    """Every address the message went to (to, cc, bcc), lower-cased."""
    return {
        address.lower()
        for address in [message.to_email, *(message.cc or []), *(message.bcc or [])]
        if address
    }


def provider_for_webhook_token(*, token: str) -> SmtpProvider | None:
    """The provider of kind ses/sendgrid/mailgun whose event URL holds this token."""
    if not token or len(token) > 64:
        return None
    return (
        SmtpProvider.objects.filter(webhook_token=token, kind__in=FEEDBACK_KINDS)
        .only("pk", "account_id", "kind", "webhook_key_encrypted")
        .first()
    )


def provider_webhook_url(provider: SmtpProvider) -> str:
    """The provider's event URL under ``MAILPASS_PUBLIC_URL`` (section 16.1)."""
    path = reverse("feedback-provider-events", args=[provider.webhook_token])
    return f"{settings.MAILPASS_PUBLIC_URL}{path}"


# Where the user pastes the URL, per kind (shown next to it in the admin).
WEBHOOK_INSTRUCTIONS = {
    ProviderKind.SES: (
        "Paste this into Amazon SNS: add an HTTPS subscription with this URL to the topic your "
        "SES configuration set sends Delivery, Bounce and Complaint events to (it is "
        "confirmed automatically)."
    ),
    ProviderKind.SENDGRID: (
        "Paste this into SendGrid: Settings > Mail Settings > Event Webhook > HTTP Post URL, "
        "with Delivered, Bounced, Dropped, Deferred and Spam Reports selected."
    ),
    ProviderKind.MAILGUN: (
        "Paste this into Mailgun: Sending > Webhooks, for Delivered, Permanent Failure, "
        "Temporary Failure and Spam Complaints."
    ),
}
