"""The message log and the queue in the Django admin."""

from django.contrib import admin

from mail.models import Message, QueueItem


@admin.register(Message)
class MessageAdmin(admin.ModelAdmin):
    """The message log (issue 5 fills this in: events inline, filters, counts per status)."""

    list_display = ("message_id", "to_email", "subject", "status", "created_at")


@admin.register(QueueItem)
class QueueItemAdmin(admin.ModelAdmin):
    """The queue (issue 4 fills this in: filters, search, requeue action)."""

    list_display = ("id", "message", "status", "attempts", "next_attempt_at")
