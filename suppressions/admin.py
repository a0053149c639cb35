"""The suppression list in the admin (API.md s.15): search, filter by reason, add, remove.

Account owners see, add and remove only their own account's entries (API.md s.10): the
scoping is ``AccountScopedAdmin``'s; an entry is never edited (remove it and add it again).
"""

from django import forms
from django.contrib import admin
from django.core.validators import validate_email
from django.http import HttpRequest

from mailpass.admin_tenancy import AccountScopedAdmin
from suppressions.models import Suppression
from suppressions.selectors import email_normalize


class SuppressionForm(forms.ModelForm):
    """Lower-cases the address and refuses one already on that account's list (a clear form
    error instead of the unique index's IntegrityError)."""

    request_account_id: int | None = None  # an owner's own account, set by the admin

    class Meta:
        model = Suppression
        fields = ("account", "email", "reason", "detail", "message")

    def clean_email(self) -> str:
        email = email_normalize(self.cleaned_data["email"])
        validate_email(email)
        return email

    def clean(self):
        cleaned = super().clean()
        account = cleaned.get("account")
        account_id = self.request_account_id or (account.pk if account else None)
        email = cleaned.get("email")
        if self.instance.pk is None and account_id and email:
            if Suppression.objects.filter(account_id=account_id, email=email).exists():
                self.add_error("email", "This address is already on the suppression list.")
        return cleaned


@admin.register(Suppression)
class SuppressionAdmin(AccountScopedAdmin):
    form = SuppressionForm
    list_display = ("email", "reason", "account", "message_link", "created_at")
    list_filter = ("reason",)
    search_fields = ("email",)
    ordering = ("-created_at", "-id")
    date_hierarchy = None
    list_select_related = ("account", "message")
    raw_id_fields = ("message",)
    readonly_fields = ("created_at",)
    show_full_result_count = False  # a list of millions: no COUNT(*) of the whole table

    @admin.display(description="message")
    def message_link(self, obj: Suppression) -> str:
        return obj.message.message_id if obj.message_id else "—"

    def get_search_results(self, request, queryset, search_term):
        # Stored lower-cased: search the way it is stored (the index serves prefix-free
        # "contains" no better, but the case is right).
        return super().get_search_results(request, queryset, email_normalize(search_term))

    def get_fields(self, request: HttpRequest, obj: Suppression | None = None):
        fields = ["email", "reason", "detail", "message", "created_at"]
        if request.user.is_superuser:
            fields.insert(0, "account")
        return fields

    def get_readonly_fields(self, request: HttpRequest, obj: Suppression | None = None):
        if obj is not None:  # an entry is added or removed, never edited into another one
            return ("account", "email", "reason", "detail", "message", "created_at")
        return self.readonly_fields

    def get_form(self, request, obj=None, change=False, **kwargs):
        form = super().get_form(request, obj, change=change, **kwargs)
        if not request.user.is_superuser:
            form = type(form.__name__, (form,), {"request_account_id": request.user.pk})
        return form

    def save_model(self, request, obj: Suppression, form, change: bool) -> None:
        obj.email = email_normalize(obj.email)
        super().save_model(request, obj, form, change)  # an owner's entry is theirs
