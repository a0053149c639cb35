"""The message log and the queue in the Django admin."""

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html

from mail.identifiers import message_id_normalize
from mail.models import Message, MessageEvent, QueueItem
from mail.queue import queue_requeue
from mail.selectors import message_filter_by_tag, message_status_counts, message_tags_recent
from mailpass.admin_tenancy import AccountScopedAdmin, AccountScopedTabularInline, is_operator

# Bodies are shown as source, escaped and cut: the admin page must stay light and must never
# run a sender's html (scripts, tracking pixels) in the operator's browser.
SOURCE_DISPLAY_LIMIT = 100_000


def _source_block(body: str) -> str:
    if not body:
        return "-"
    shown = body[:SOURCE_DISPLAY_LIMIT]
    note = (
        ""
        if len(body) <= SOURCE_DISPLAY_LIMIT
        else f"\n… cut at {SOURCE_DISPLAY_LIMIT} of {len(body)} characters"
    )
    return format_html(
        '<pre style="white-space: pre-wrap; max-height: 30em; overflow: auto">{}{}</pre>',
        shown,
        note,
    )


class MessageTagListFilter(admin.SimpleListFilter):
    title = "tag"
    parameter_name = "tag"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple[str, str]]:
        account_id = None if is_operator(request) else request.user.pk
        return [(tag, tag) for tag in message_tags_recent(account_id=account_id)]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Message]) -> QuerySet[Message]:
        tag = self.value()
        if not tag:
            return queryset
        return message_filter_by_tag(queryset=queryset, tag=tag)


class MessageEventInline(AccountScopedTabularInline):
    """Lifecycle and tracking events, oldest first; read-only."""

    model = MessageEvent
    fields = ("created_at", "event_type", "ip_address", "user_agent", "url", "detail")
    readonly_fields = fields
    ordering = ("created_at", "id")
    extra = 0
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj: Message | None = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Message | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Message | None = None) -> bool:
        return False


@admin.register(Message)
class MessageAdmin(AccountScopedAdmin):
    """The message log: every message with its events; read-only, the log is not edited.

    The list shows counts per status (following the active filters) above the results.
    """

    list_display = (
        "message_id",
        "to_email",
        "short_subject",
        "status",
        "provider",
        "account",
        "is_test",
        "created_at",
        "sent_at",
    )
    list_filter = (
        "status",
        "provider",
        MessageTagListFilter,
        ("created_at", admin.DateFieldListFilter),
        "is_test",
    )
    list_select_related = ("provider", "account")
    search_fields = ("to_email", "message_id")
    search_help_text = "Recipient address, or message id (with or without <>, %-encoded or not)."
    show_full_result_count = False  # one COUNT of a large log per page is enough
    inlines = (MessageEventInline,)
    fieldsets = (
        (
            None,
            {
                "fields": (
                    "message_id",
                    "account",
                    "provider",
                    "status",
                    "error_message",
                    "is_test",
                    "attempts",
                    "queue_item_link",
                )
            },
        ),
        (
            "Addresses",
            {"fields": ("from_email", "from_name", "to_email", "cc", "bcc", "reply_to")},
        ),
        (
            "Content",
            {
                "fields": (
                    "subject",
                    "tags",
                    "metadata",
                    "track_opens",
                    "track_clicks",
                    "html_source",
                    "text_source",
                )
            },
        ),
        ("Times", {"fields": ("created_at", "sent_at", "updated_at", "limit_counted_at")}),
    )
    # Everything is read-only: the log is not edited.
    readonly_fields = tuple(field for _, options in fieldsets for field in options["fields"])

    def get_queryset(self, request: HttpRequest) -> QuerySet[Message]:
        # The list never shows the bodies, which can be megabytes each.
        queryset = super().get_queryset(request)
        if request.resolver_match and request.resolver_match.url_name.endswith("changelist"):
            queryset = queryset.defer("html", "text")
        return queryset

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # messages are written by the API only

    def has_change_permission(self, request: HttpRequest, obj: Message | None = None) -> bool:
        return False  # the log is read, never edited (viewing needs the view permission)

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet[Message], search_term: str
    ) -> tuple[QuerySet[Message], bool]:
        results, may_have_duplicates = super().get_search_results(request, queryset, search_term)
        term = search_term.strip()
        if "@" in term or "%" in term or term.startswith("<"):
            # A pasted message id in any of the forms the API accepts: an exact, indexed match.
            results |= queryset.filter(message_id=message_id_normalize(term))
        return results, may_have_duplicates

    def changelist_view(self, request: HttpRequest, extra_context: dict | None = None):
        response = super().changelist_view(request, extra_context)
        context = getattr(response, "context_data", None)
        if context is not None and "cl" in context:
            # Counted over the filtered and searched list, so they answer "of these, how many
            # failed?"; computed after the ChangeList has applied the filters.
            changelist = context["cl"]
            context["status_counts"] = [
                {
                    "status": count.status,
                    "label": count.label,
                    "count": count.count,
                    "url": changelist.get_query_string(
                        {"status__exact": count.status}, remove=["p"]
                    ),
                }
                for count in message_status_counts(queryset=changelist.queryset)
            ]
        return response

    @admin.display(description="subject", ordering="subject")
    def short_subject(self, message: Message) -> str:
        return message.subject if len(message.subject) <= 60 else message.subject[:59] + "…"

    @admin.display(description="queue item")
    def queue_item_link(self, message: Message) -> str:
        item = QueueItem.objects.filter(message=message).only("pk", "status").first()
        if item is None:
            return "-"
        url = reverse("admin:mail_queueitem_change", args=[item.pk])
        return format_html('<a href="{}">#{} ({})</a>', url, item.pk, item.status)

    @admin.display(description="html (source, not rendered)")
    def html_source(self, message: Message) -> str:
        return _source_block(message.html)

    @admin.display(description="text")
    def text_source(self, message: Message) -> str:
        return _source_block(message.text)


@admin.register(QueueItem)
class QueueItemAdmin(AccountScopedAdmin):
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

    @admin.action(
        description="Requeue selected failed items (attempts reset)", permissions=["change"]
    )
    def requeue(self, request: HttpRequest, queryset: QuerySet[QueueItem]) -> None:
        count = queue_requeue(item_ids=queryset.values_list("pk", flat=True))
        skipped = queryset.count() - count
        self.message_user(request, f"{count} item(s) requeued.", messages.SUCCESS)
        if skipped > 0:
            self.message_user(
                request, f"{skipped} item(s) were not failed and were left alone.", messages.WARNING
            )
