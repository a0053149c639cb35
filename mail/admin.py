"""The message log and the queue in the Django admin."""

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from mail.models import Message, QueueItem
from mail.queue import queue_requeue


@admin.register(Message)
class MessageAdmin(admin.ModelAdmin):
    """The message log (issue 5 fills this in: events inline, filters, counts per status)."""

    list_display = ("message_id", "to_email", "subject", "status", "created_at")


@admin.register(QueueItem)
class QueueItemAdmin(admin.ModelAdmin):
    """The queue: what waits, what is being sent, what failed; failed items can be requeued."""

    list_display = (
        "id",
        "message_id_display",
        "recipient",
        "provider",
        "status",
        "attempts",
        "next_attempt_at",
        "locked_by",
        "short_error",
    )
    list_filter = ("status", "provider")
    search_fields = ("message__to_email", "message__message_id")
    list_select_related = ("message", "provider")
    readonly_fields = (
        "message",
        "account",
        "provider",
        "status",
        "attempts",
        "next_attempt_at",
        "locked_until",
        "locked_by",
        "last_error",
        "created_at",
        "updated_at",
    )
    ordering = ("-id",)
    actions = ("requeue",)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # items are created by the API only

    @admin.display(description="message id", ordering="message__message_id")
    def message_id_display(self, item: QueueItem) -> str:
        return item.message.message_id

    @admin.display(description="recipient", ordering="message__to_email")
    def recipient(self, item: QueueItem) -> str:
        return item.message.to_email

    @admin.display(description="last error")
    def short_error(self, item: QueueItem) -> str:
        return item.last_error[:80]

    @admin.action(description="Requeue selected failed items (attempts reset)")
    def requeue(self, request: HttpRequest, queryset: QuerySet[QueueItem]) -> None:
        count = queue_requeue(item_ids=queryset.values_list("pk", flat=True))
        skipped = queryset.count() - count
        self.message_user(request, f"{count} item(s) requeued.", messages.SUCCESS)
        if skipped > 0:
            self.message_user(
                request, f"{skipped} item(s) were not failed and were left alone.", messages.WARNING
            )
