"""API keys in the admin: create (the plain key is shown once), list, revoke.

Only the hash of a key is stored; the admin never shows it, and a stored key cannot be edited:
a changed permission set means a new key.
"""

from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from accounts.models import KNOWN_PERMISSIONS, PERMISSION_MAIL, AccountSettings, ApiKey
from accounts.services import api_key_create, api_key_revoke
from mailpass.admin_tenancy import AccountScopedAdmin, is_operator

_ADD_FIELDS = ("account", "name", "permissions", "test_mode")
_CHANGE_FIELDS = (
    "display",
    "account",
    "name",
    "permissions",
    "is_test",
    "created_at",
    "last_used_at",
    "revoked_at",
)


class ApiKeyAddForm(forms.ModelForm):
    permissions = forms.MultipleChoiceField(
        choices=[(name, name) for name in KNOWN_PERMISSIONS],
        initial=[PERMISSION_MAIL],
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="The mail endpoints need 'mail'.",
    )
    # Not "is_test": that model field is not editable, and the service decides the prefix.
    test_mode = forms.BooleanField(
        required=False,
        label="Test key",
        help_text="An mp_test_ key: validated and stored like a live one, never sent.",
    )

    class Meta:
        model = ApiKey
        fields = ("account", "name")


class RevokedFilter(admin.SimpleListFilter):
    title = "state"
    parameter_name = "state"

    def lookups(self, request, model_admin):
        return [("active", "Active"), ("revoked", "Revoked")]

    def queryset(self, request, queryset):
        if self.value() == "active":
            return queryset.filter(revoked_at__isnull=True)
        if self.value() == "revoked":
            return queryset.filter(revoked_at__isnull=False)
        return queryset


@admin.register(ApiKey)
class ApiKeyAdmin(AccountScopedAdmin):
    """Owners mint keys only for themselves: their form's account is fixed to them."""

    list_display = (
        "display",
        "account",
        "name",
        "permission_list",
        "is_test",
        "created_at",
        "last_used_at",
        "revoked_at",
    )
    list_filter = (RevokedFilter, "is_test")
    search_fields = ("account__username", "name", "prefix")
    list_select_related = ("account",)
    actions = ("revoke_selected",)
    date_hierarchy = "created_at"

    @admin.display(description="key")
    def display(self, obj: ApiKey) -> str:
        return obj.display

    @admin.display(description="permissions")
    def permission_list(self, obj: ApiKey) -> str:
        return ", ".join(obj.permissions or []) or "—"

    def get_fields(self, request, obj=None):
        return _ADD_FIELDS if obj is None else _CHANGE_FIELDS

    def get_readonly_fields(self, request, obj=None):
        return () if obj is None else _CHANGE_FIELDS

    def get_form(self, request, obj=None, change=False, **kwargs):
        if obj is None:
            kwargs["form"] = ApiKeyAddForm
        return super().get_form(request, obj, change=change, **kwargs)

    def save_model(self, request: HttpRequest, obj: ApiKey, form, change: bool) -> None:
        if change:
            return  # every stored field is read-only
        account = form.cleaned_data["account"] if is_operator(request) else request.user
        created = api_key_create(
            account=account,
            name=form.cleaned_data["name"],
            permissions=form.cleaned_data["permissions"],
            is_test=form.cleaned_data["test_mode"],
        )
        # The admin goes on with `obj` (history entry, redirect): make it the stored key.
        for field in ApiKey._meta.concrete_fields:
            setattr(obj, field.attname, getattr(created.api_key, field.attname))
        obj._state.adding = False
        messages.warning(
            request,
            f"Copy the new API key now; it is shown only this once: {created.plain_key}",
        )

    @admin.action(description="Revoke selected keys", permissions=["change"])
    def revoke_selected(self, request: HttpRequest, queryset: QuerySet[ApiKey]) -> None:
        revoked = 0
        for api_key in queryset.filter(revoked_at__isnull=True):
            api_key_revoke(api_key=api_key)
            revoked += 1
        self.message_user(request, f"Revoked {revoked} key(s).", messages.SUCCESS)


@admin.register(AccountSettings)
class AccountSettingsAdmin(AccountScopedAdmin):
    """Per-account defaults of the mail API (tracking); no row means both are on."""

    list_display = ("account", "track_opens", "track_clicks")
    list_filter = ("track_opens", "track_clicks")
    search_fields = ("account__username", "account__email")
    autocomplete_fields = ("account",)
