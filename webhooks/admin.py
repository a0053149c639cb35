"""Webhook endpoints and their deliveries in the admin (API.md sections 10 and 17).

Account-scoped like every admin. An endpoint shows its health and its latest deliveries; a
delivery shows its attempts. Actions (replay a delivery with the same ``webhook-id``, send a test
event) need the change permission. Secrets are never shown, except once when an endpoint is
added here.
"""

from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html

from mailpass.admin_tenancy import AccountScopedAdmin, AccountScopedTabularInline
from webhooks.delivery import endpoint_test_send
from webhooks.events import SUBSCRIBABLE_EVENT_TYPES
from webhooks.models import WebhookAttempt, WebhookDelivery, WebhookEndpoint
from webhooks.network import AddressRefused, url_check_at_creation
from webhooks.services import deliveries_replay, endpoint_update
from webhooks.signing import secret_generate

DELIVERIES_SHOWN = 50


class EndpointForm(forms.ModelForm):
    url = forms.URLField(max_length=2048, assume_scheme="https")
    events = forms.MultipleChoiceField(
        choices=[(name, name) for name in SUBSCRIBABLE_EVENT_TYPES],
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="None ticked: every event type.",
    )

    class Meta:
        model = WebhookEndpoint
        fields = ("account", "url", "events", "description", "active")

    def clean_url(self) -> str:
        url = self.cleaned_data["url"]
        if not url.lower().startswith(("http://", "https://")):
            raise forms.ValidationError("Enter an http or https URL.")
        try:
            url_check_at_creation(url)
        except AddressRefused as exc:
            raise forms.ValidationError(str(exc)) from exc
        return url


def _latency(obj) -> str:
    ms = obj.last_latency_ms if hasattr(obj, "last_latency_ms") else obj.latency_ms
    return "-" if ms is None else f"{ms} ms"


class DeliveryInline(AccountScopedTabularInline):
    """The endpoint's latest deliveries (read-only)."""

    model = WebhookDelivery
    fields = (
        "link",
        "event_type",
        "event_created",
        "status",
        "attempts",
        "last_status_code",
        "latency",
        "answer",
        "next_attempt_at",
    )
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = False
    verbose_name_plural = f"latest deliveries (up to {DELIVERIES_SHOWN})"

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        queryset = super().get_queryset(request).select_related("event")
        ids = list(queryset.order_by("-created_at", "-id").values_list("id", flat=True)[:500])
        return queryset.filter(pk__in=ids).order_by("-created_at", "-id")

    def get_formset(self, request, obj=None, **kwargs):
        formset = super().get_formset(request, obj, **kwargs)
        formset.max_num = 0
        return formset

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    @admin.display(description="delivery")
    def link(self, delivery: WebhookDelivery) -> str:
        url = reverse("admin:webhooks_webhookdelivery_change", args=[delivery.pk])
        return format_html('<a href="{}">{}</a>', url, delivery.webhook_id)

    @admin.display(description="event at")
    def event_created(self, delivery: WebhookDelivery):
        return delivery.event.created_at if delivery.event else delivery.created_at

    @admin.display(description="latency")
    def latency(self, delivery: WebhookDelivery) -> str:
        return _latency(delivery)

    @admin.display(description="answer (first 1 KiB)")
    def answer(self, delivery: WebhookDelivery) -> str:
        return delivery.last_response or delivery.last_error or "-"


@admin.register(WebhookEndpoint)
class WebhookEndpointAdmin(AccountScopedAdmin):
    form = EndpointForm
    list_display = ("url", "account", "active", "health", "last_attempt_at", "created_at")
    list_filter = ("active",)
    search_fields = ("url", "description")
    readonly_fields = (
        "disabled_reason",
        "failing_since",
        "last_attempt_at",
        "last_success_at",
        "last_status_code",
        "last_error",
        "created_at",
    )
    inlines = [DeliveryInline]
    actions = ("send_test_event",)

    @admin.display(description="health")
    def health(self, endpoint: WebhookEndpoint) -> str:
        if endpoint.disabled_reason:
            return endpoint.disabled_reason
        if endpoint.failing_since:
            return f"failing since {endpoint.failing_since:%Y-%m-%d %H:%M} UTC"
        if endpoint.last_success_at:
            return "ok"
        return "-"

    def get_inline_instances(self, request, obj=None):
        return super().get_inline_instances(request, obj) if obj is not None else []

    def save_model(self, request, obj: WebhookEndpoint, form, change: bool) -> None:
        if not change:
            secret = secret_generate()
            obj.secret = secret
            super().save_model(request, obj, form, change)
            messages.warning(
                request, f"The signing secret of {obj.url} is {secret}. It is shown this once."
            )
            return
        switched_on = "active" in form.changed_data and obj.active
        if switched_on:
            # Through the service: the health record is cleared and waiting deliveries resume.
            WebhookEndpoint.objects.filter(pk=obj.pk).update(active=False)
            obj.active = False
            endpoint_update(endpoint=obj, data={"active": True})
        super().save_model(request, obj, form, change)

    @admin.action(description="Send a test event", permissions=["change"])
    def send_test_event(self, request: HttpRequest, queryset: QuerySet) -> None:
        for endpoint in queryset[:10]:
            outcome = endpoint_test_send(endpoint=endpoint).outcome
            if outcome.success:
                self.message_user(
                    request,
                    f"{endpoint.url}: {outcome.status_code} in {outcome.latency_ms} ms.",
                    messages.SUCCESS,
                )
            else:
                self.message_user(
                    request, f"{endpoint.url}: failed ({outcome.error}).", messages.ERROR
                )


class AttemptInline(AccountScopedTabularInline):
    model = WebhookAttempt
    fields = ("attempted_at", "success", "status_code", "latency", "response", "error")
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    @admin.display(description="latency")
    def latency(self, attempt: WebhookAttempt) -> str:
        return _latency(attempt)


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(AccountScopedAdmin):
    list_display = (
        "webhook_id",
        "event_type",
        "endpoint",
        "status",
        "attempts",
        "last_status_code",
        "latency",
        "next_attempt_at",
        "created_at",
    )
    list_filter = ("status", "event_type")
    search_fields = ("webhook_id", "endpoint__url")
    list_select_related = ("endpoint",)
    fields = (
        "webhook_id",
        "endpoint",
        "event_type",
        "event_detail",
        "message_status",
        "status",
        "attempts",
        "last_status_code",
        "latency",
        "last_response",
        "last_error",
        "next_attempt_at",
        "created_at",
        "delivered_at",
    )
    readonly_fields = fields
    inlines = [AttemptInline]
    actions = ("replay",)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    @admin.display(description="latency")
    def latency(self, delivery: WebhookDelivery) -> str:
        return _latency(delivery)

    @admin.display(description="event")
    def event_detail(self, delivery: WebhookDelivery) -> str:
        event = delivery.event
        if event is None:
            return "webhook.test"
        url = reverse("admin:mail_message_change", args=[event.message_id])
        return format_html(
            '{} at {} of <a href="{}">message {}</a>',
            event.event_type,
            event.created_at,
            url,
            event.message_id,
        )

    @admin.action(description="Replay (same webhook-id)", permissions=["change"])
    def replay(self, request: HttpRequest, queryset: QuerySet) -> None:
        # The queryset is already the owner's own (get_queryset); nothing else is touched.
        changed = deliveries_replay(delivery_ids=list(queryset.values_list("pk", flat=True)))
        self.message_user(request, f"{changed} deliveries will be sent again.", messages.SUCCESS)
