"""The SMTP settings dashboard (API.md section 8).

The password is write-only here: the form never renders it back (blank keeps the stored one),
no list, filter or page shows it, and the stored value is only ever the Fernet token.
"""

import json

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.contrib.admin.utils import flatten_fieldsets
from django.db.models import QuerySet
from django.http import HttpRequest
from django.template.response import TemplateResponse
from django.utils.html import format_html

from feedback.keys import webhook_key_problem
from feedback.selectors import WEBHOOK_INSTRUCTIONS, provider_webhook_url
from mailpass.admin_tenancy import AccountScopedAdmin
from providers.models import FEEDBACK_KINDS, SmtpProvider
from providers.presets import RELAY_PRESETS
from providers.services import (
    provider_make_default,
    provider_send_test_email,
    provider_test_connection,
)

FIELDSETS = (
    (None, {"fields": ("account", "name", "kind", "is_active", "is_default")}),
    (
        "SMTP server",
        {
            "fields": (
                "host",
                "port",
                "security",
                "username",
                "password",
                "clear_password",
                "timeout",
            )
        },
    ),
    ("Sender", {"fields": ("from_email", "from_name")}),
    ("Send limits", {"fields": ("hourly_limit", "daily_limit")}),
    (
        "Delivery feedback (Amazon SES, SendGrid, Mailgun)",
        {"fields": ("webhook_url", "webhook_key", "clear_webhook_key")},
    ),
    ("History", {"fields": ("created_at", "updated_at")}),
)
READONLY_FIELDS = ("webhook_url", "created_at", "updated_at")


class SmtpProviderForm(forms.ModelForm):
    password = forms.CharField(
        required=False,
        strip=False,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
        help_text="Stored encrypted and never shown again. Leave blank to keep the current one.",
    )
    clear_password = forms.BooleanField(
        required=False, help_text="Remove the stored password (for servers without AUTH)."
    )
    webhook_key = forms.CharField(
        required=False,
        strip=True,
        label="Webhook verification key",
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "off"}),
        help_text="Mailgun: the HTTP webhook signing key. SendGrid: the Event Webhook's "
        "verification key (base64). Stored encrypted and never shown again; leave blank to "
        "keep the current one.",
    )
    clear_webhook_key = forms.BooleanField(
        required=False, help_text="Remove the stored webhook verification key."
    )

    class Meta:
        model = SmtpProvider
        fields = [name for name in flatten_fieldsets(FIELDSETS) if name not in READONLY_FIELDS]

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        # Empty host with a known kind: the relay's host, port and security are filled in.
        self.fields["host"].required = False
        self.fields["host"].help_text = "Leave empty for a known kind to use its relay settings."
        if self.instance.pk and self.instance.password_encrypted:
            stored = "A password is stored (encrypted, never shown). Leave blank to keep it."
            self.fields["password"].help_text = stored
        # The admin script fills host/port/security when the kind changes (presets.py is the
        # only source of these values).
        self.fields["kind"].widget.attrs["data-presets"] = json.dumps(
            {
                str(kind): {"host": p.host, "port": p.port, "security": str(p.security)}
                for kind, p in RELAY_PRESETS.items()
            }
        )

    class Media:
        js = ("providers/provider_presets.js",)

    def clean(self):
        cleaned = super().clean()
        if not cleaned.get("host"):
            preset = RELAY_PRESETS.get(cleaned.get("kind"))
            if preset is None:
                self.add_error("host", "Enter the SMTP server's host name.")
            else:
                cleaned["host"], cleaned["port"], cleaned["security"] = preset
                self.errors.pop("port", None)
        if cleaned.get("password") and cleaned.get("clear_password"):
            self.add_error("clear_password", "Either enter a new password or clear it, not both.")
        problem = webhook_key_problem(
            kind=cleaned.get("kind") or "", key=cleaned.get("webhook_key") or ""
        )
        if problem:
            self.add_error("webhook_key", problem)
        if cleaned.get("webhook_key") and cleaned.get("clear_webhook_key"):
            self.add_error("clear_webhook_key", "Either enter a new key or clear it, not both.")
        return cleaned

    def _get_validation_exclusions(self):
        # A ticked "default" is moved by the admin through provider_make_default (the former
        # default is cleared in the same transaction), so the one-default constraint must not
        # refuse the form beforehand. The database still enforces it.
        exclusions = super()._get_validation_exclusions()
        exclusions.add("is_default")
        return exclusions

    def _post_clean(self) -> None:
        super()._post_clean()
        if self.cleaned_data.get("password"):
            self.instance.password = self.cleaned_data["password"]
        elif self.cleaned_data.get("clear_password"):
            self.instance.password = ""
        if self.cleaned_data.get("webhook_key"):
            self.instance.webhook_key = self.cleaned_data["webhook_key"]
        elif self.cleaned_data.get("clear_webhook_key"):
            self.instance.webhook_key = ""


class HasPasswordFilter(admin.SimpleListFilter):
    title = "password"
    parameter_name = "has_password"

    def lookups(self, request, model_admin):
        return [("yes", "Stored"), ("no", "None")]

    def queryset(self, request, queryset):
        if self.value() == "yes":
            return queryset.exclude(password_encrypted="")
        if self.value() == "no":
            return queryset.filter(password_encrypted="")
        return queryset


class SendTestEmailForm(forms.Form):
    to_email = forms.EmailField(label="Recipient")


@admin.register(SmtpProvider)
class SmtpProviderAdmin(AccountScopedAdmin):
    form = SmtpProviderForm
    list_display = (
        "name",
        "account",
        "kind",
        "host",
        "port",
        "security",
        "username",
        "has_password",
        "from_email",
        "hourly_limit",
        "daily_limit",
        "is_default",
        "is_active",
    )
    list_filter = ("kind", "security", "is_default", "is_active", HasPasswordFilter)
    search_fields = ("name", "host", "username", "from_email", "account__username")
    list_select_related = ("account",)
    readonly_fields = READONLY_FIELDS
    fieldsets = FIELDSETS
    actions = ("make_default", "test_connection", "send_test_email")

    @admin.display(description="event URL")
    def webhook_url(self, obj: SmtpProvider) -> str:
        if obj.pk is None or obj.kind not in FEEDBACK_KINDS:
            return "Amazon SES, SendGrid and Mailgun providers get an event URL once saved."
        return format_html(
            "<code>{}</code><br>{}",
            provider_webhook_url(obj),
            WEBHOOK_INSTRUCTIONS[obj.kind],
        )

    @admin.display(boolean=True, description="password")
    def has_password(self, obj: SmtpProvider) -> bool:
        return bool(obj.password_encrypted)

    def save_model(self, request: HttpRequest, obj: SmtpProvider, form, change: bool) -> None:
        # The default moves through the service (one transaction, the former default cleared),
        # so a ticked box never runs into the one-default constraint.
        wants_default = obj.is_default
        was_default = change and SmtpProvider.objects.filter(pk=obj.pk, is_default=True).exists()
        if wants_default and not was_default:
            obj.is_default = False
        super().save_model(request, obj, form, change)
        if wants_default and not was_default:
            provider_make_default(provider=obj)

    @admin.action(
        description="Make the selected provider its account's default", permissions=["change"]
    )
    def make_default(self, request: HttpRequest, queryset: QuerySet[SmtpProvider]) -> None:
        if queryset.count() != 1:
            self.message_user(request, "Select exactly one provider.", messages.ERROR)
            return
        provider = provider_make_default(provider=queryset.get())
        self.message_user(
            request,
            f"{provider.name} is now the default provider of {provider.account}.",
            messages.SUCCESS,
        )

    @admin.action(description="Test connection (connect, TLS, AUTH, QUIT)", permissions=["change"])
    def test_connection(self, request: HttpRequest, queryset: QuerySet[SmtpProvider]) -> None:
        for provider in queryset:
            check = provider_test_connection(provider=provider)
            for step in check.steps:
                self.message_user(request, f"{provider.name}: {step}", messages.INFO)
            if check.ok:
                self.message_user(request, f"{provider.name}: connection works.", messages.SUCCESS)
            else:
                self.message_user(
                    request, f"{provider.name}: connection failed: {check.error}", messages.ERROR
                )

    @admin.action(description="Send a test email", permissions=["change"])
    def send_test_email(self, request: HttpRequest, queryset: QuerySet[SmtpProvider]):
        if queryset.count() != 1:
            self.message_user(request, "Select exactly one provider.", messages.ERROR)
            return None
        provider = queryset.get()
        if "apply" in request.POST:
            form = SendTestEmailForm(request.POST)
            if form.is_valid():
                to_email = form.cleaned_data["to_email"]
                check = provider_send_test_email(provider=provider, to_email=to_email)
                if check.ok:
                    self.message_user(
                        request,
                        f"{provider.name}: test email sent to {to_email}.",
                        messages.SUCCESS,
                    )
                else:
                    self.message_user(
                        request,
                        f"{provider.name}: the test email failed: {check.error}",
                        messages.ERROR,
                    )
                return None
        else:
            form = SendTestEmailForm(initial={"to_email": request.user.email})
        return TemplateResponse(
            request,
            "admin/providers/smtpprovider/send_test_email.html",
            {
                **self.admin_site.each_context(request),
                "title": "Send a test email",
                "opts": self.model._meta,
                "provider": provider,
                "form": form,
                "action_checkbox_name": ACTION_CHECKBOX_NAME,
            },
        )
