"""Messages, their queue items, tracking/lifecycle events and idempotency records."""

from django.conf import settings
from django.db import models
from django.db.models import Q


class MessageStatus(models.TextChoices):
    """The lifecycle of API.md section 11."""

    SCHEDULED = "scheduled"
    QUEUED = "queued"
    SENDING = "sending"
    SENT = "sent"
    DELIVERED = "delivered"
    BOUNCED = "bounced"
    FAILED = "failed"
    SUPPRESSED = "suppressed"
    CANCELED = "canceled"


# Statuses after which nothing is sent any more (attachment content can go).
FINAL_MESSAGE_STATUSES = frozenset(
    {
        MessageStatus.DELIVERED,
        MessageStatus.BOUNCED,
        MessageStatus.FAILED,
        MessageStatus.SUPPRESSED,
        MessageStatus.CANCELED,
    }
)


class Message(models.Model):
    """One email, written before SMTP starts so that a crash never loses it."""

    # Neither foreign key has an index of its own: each leads a composite index below
    # (mail_msg_account_created, mail_msg_limit_window), which serves its lookups and
    # cascades, and every index costs each send two writes (the INSERT and the "sent" update).
    account = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="messages",
        db_index=False,
    )
    provider = models.ForeignKey(
        "providers.SmtpProvider",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="messages",
        db_index=False,
    )
    message_id = models.CharField(max_length=255, unique=True)
    from_email = models.CharField(max_length=254)
    from_name = models.CharField(max_length=255, blank=True)
    to_email = models.CharField(max_length=254)
    cc = models.JSONField(default=list, blank=True)
    bcc = models.JSONField(default=list, blank=True)
    reply_to = models.CharField(max_length=254, blank=True)
    subject = models.CharField(max_length=998)
    html = models.TextField(blank=True)
    text = models.TextField(blank=True)
    tags = models.JSONField(default=list, blank=True)
    metadata = models.JSONField(default=dict, blank=True)
    track_opens = models.BooleanField(default=True)
    track_clicks = models.BooleanField(default=True)
    # Section 12: custom headers as given; attachment metadata only (filename, content_type,
    # size, content_id), never the content.
    headers = models.JSONField(default=dict, blank=True, db_default={})
    attachments = models.JSONField(default=list, blank=True, db_default=[])
    # Section 13: the template's name when the message was rendered from one.
    template_name = models.CharField(max_length=100, blank=True, db_default="")
    # Section 14: when a scheduled message is due (null: send now).
    send_at = models.DateTimeField(null=True, blank=True)
    # Section 15: cc/bcc addresses dropped because they were on the suppression list.
    suppressed = models.JSONField(default=list, blank=True, db_default=[])
    # Section 16: the provider's own id from its 250 reply to DATA (SES: "250 Ok <id>").
    provider_message_id = models.CharField(max_length=255, blank=True, db_default="")
    status = models.CharField(
        max_length=16, choices=MessageStatus.choices, default=MessageStatus.SENDING
    )
    error_message = models.TextField(blank=True)  # "" is shown as null by the API
    is_test = models.BooleanField(default=False)
    attempts = models.PositiveIntegerField(default=0)
    # When this message took a slot of its provider's send limits; cleared if it failed.
    limit_counted_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            # Send limits count a provider's live messages over the last hour/day. Not partial:
            # it is also the provider's foreign-key index, so that it is the only index a
            # window's count can use. With a second index on provider_id alone, a planner
            # whose statistics say the table is small (a new install, or autovacuum off)
            # picked that one and filtered every message of the provider, under the
            # provider's lock, on every limited send.
            models.Index(fields=["provider", "limit_counted_at"], name="mail_msg_limit_window"),
            models.Index(fields=["account", "-created_at"], name="mail_msg_account_created"),
            models.Index(fields=["to_email"], name="mail_msg_to_email"),
            # Provider feedback finds the message by the provider's own id.
            models.Index(
                fields=["provider", "provider_message_id"],
                name="mail_msg_provider_msgid",
                condition=~Q(provider_message_id=""),
            ),
            # The attachment purge reads the files that waiting messages still need.
            models.Index(
                fields=["account"],
                name="mail_msg_live_attachments",
                condition=Q(status__in=["scheduled", "queued", "sending"]) & ~Q(attachments=[]),
            ),
            # Finding single sends whose process died mid-send (few rows, ever).
            models.Index(
                fields=["updated_at"],
                name="mail_msg_sending",
                condition=Q(status="sending"),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.message_id} to {self.to_email} ({self.status})"


class QueueItemStatus(models.TextChoices):
    QUEUED = "queued"
    SENDING = "sending"
    SENT = "sent"
    FAILED = "failed"
    CANCELED = "canceled"
    SUPPRESSED = "suppressed"


class QueueItem(models.Model):
    """The schedule of a queued message: when to try next, who holds it and until when."""

    message = models.OneToOneField(Message, on_delete=models.CASCADE, related_name="queue_item")
    account = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="queue_items"
    )
    provider = models.ForeignKey(
        "providers.SmtpProvider",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="queue_items",
    )
    status = models.CharField(
        max_length=16, choices=QueueItemStatus.choices, default=QueueItemStatus.QUEUED
    )
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField()
    locked_until = models.DateTimeField(null=True, blank=True)
    locked_by = models.CharField(max_length=64, blank=True)
    last_error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["id"]
        indexes = [
            # Claiming looks only at due, unfinished items: partial indexes stay small even
            # with millions of finished rows.
            models.Index(
                fields=["next_attempt_at"],
                name="mail_queue_due",
                condition=Q(status="queued"),
            ),
            models.Index(
                fields=["locked_until"],
                name="mail_queue_leased",
                condition=Q(status="sending"),
            ),
        ]

    def __str__(self) -> str:
        return f"queue item {self.pk} ({self.status})"


class EventType(models.TextChoices):
    """Events of API.md sections 5 and 11."""

    SCHEDULED = "scheduled"
    QUEUED = "queued"
    SENT = "sent"
    DEFERRED = "deferred"
    FAILED = "failed"
    DELIVERED = "delivered"
    BOUNCED = "bounced"
    COMPLAINED = "complained"
    SUPPRESSED = "suppressed"
    CANCELED = "canceled"
    OPEN = "open"
    CLICK = "click"


class MessageEvent(models.Model):
    """Lifecycle events written by the service and tracking events written by readers."""

    # Indexed by mail_event_message, which leads with it.
    message = models.ForeignKey(
        Message, on_delete=models.CASCADE, related_name="events", db_index=False
    )
    event_type = models.CharField(max_length=16, choices=EventType.choices)
    ip_address = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.CharField(max_length=512, blank=True)
    url = models.TextField(blank=True)  # "" is shown as null by the API
    detail = models.TextField(blank=True)
    # The address the event concerns ("" when it concerns the whole message).
    recipient = models.CharField(max_length=254, blank=True, db_default="")
    # The provider's (or DSN's) own id of a feedback event: the same event is recorded once.
    external_id = models.CharField(max_length=255, blank=True, db_default="")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "id"]
        indexes = [models.Index(fields=["message", "created_at"], name="mail_event_message")]
        constraints = [
            models.UniqueConstraint(
                fields=["message", "external_id"],
                name="mail_event_external_id_once",
                condition=~Q(external_id=""),
            )
        ]

    def __str__(self) -> str:
        return f"{self.event_type} of message {self.message_id}"


class AttachmentContent(models.Model):
    """The bytes of an attachment of queued mail, once per distinct file of an account.

    Kept while a message that waits to be sent refers to it (by ``sha256`` in
    ``Message.attachments``), then purged (``mail.attachments.attachment_contents_purge``).
    """

    # Indexed by mail_attachment_once, which leads with it.
    account = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+", db_index=False
    )
    sha256 = models.CharField(max_length=64)
    size = models.PositiveBigIntegerField()
    content = models.BinaryField()
    # Last time a message asked for this file: the purge leaves recent rows alone.
    stored_at = models.DateTimeField(db_index=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["account", "sha256"], name="mail_attachment_once")
        ]

    def __str__(self) -> str:
        return f"attachment content {self.sha256[:12]} ({self.size} bytes)"


class IdempotencyRecord(models.Model):
    """The first answer to a request made with an ``Idempotency-Key``, replayed for 24 h."""

    # Indexed by mail_idempotency_unique_key, which leads with it.
    account = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, db_index=False)
    key = models.CharField(max_length=255)
    request_hash = models.CharField(max_length=64)
    response_status = models.PositiveSmallIntegerField(null=True, blank=True)
    response_body = models.JSONField(null=True, blank=True)
    # The message this request stored (a single send): from then on a retry with the key
    # answers from it and never sends again, whatever happened to the first request.
    message = models.ForeignKey(
        Message, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # The request raised after storing its message (no answer will come from it).
    interrupted = models.BooleanField(default=False, db_default=False)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["account", "key"], name="mail_idempotency_unique_key")
        ]

    def __str__(self) -> str:
        return f"idempotency key {self.key!r}"


class SendLimitBucket(models.Model):
    """How many send-limit slots a limited provider's messages took in one minute.

    Kept on PostgreSQL by triggers on ``mail_message`` (migration ``0006``) for providers with
    an hourly or daily limit, so that counting a window adds at most 1,440 of these instead of
    walking every message sent in the last 24 hours under the provider's lock
    (``mail.limits``). Never written by Python.
    """

    # Indexed by the unique constraint, which leads with it (one index with provider_id
    # first, as for Message: see mail_msg_limit_window).
    provider = models.ForeignKey("providers.SmtpProvider", on_delete=models.CASCADE, db_index=False)
    minute = models.DateTimeField()
    taken = models.IntegerField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["provider", "minute"], name="mail_limit_bucket_minute")
        ]

    def __str__(self) -> str:
        return f"{self.taken} slots of provider {self.provider_id} at {self.minute:%H:%M}"
