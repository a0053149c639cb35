"""Account scoping for the webhook admins until ``mailpass.admin_tenancy`` exists on main.

The rules of API.md section 10, for these admins only: a superuser sees everything; any other
staff user sees and touches only rows of their own account (another account's id is the
admin's "doesn't exist" page), and what they may do at all is Django's permissions. Deleted
when the shared mixin lands.
"""

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest


def _operator(request: HttpRequest) -> bool:
    return bool(request.user.is_active and request.user.is_superuser)


class AccountScopedAdmin(admin.ModelAdmin):
    account_field: str = "account"

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        queryset = super().get_queryset(request)
        if _operator(request):
            return queryset
        return queryset.filter(**{self.account_field: request.user.pk})

    def _may_touch(self, request: HttpRequest, obj) -> bool:
        if _operator(request):
            return True
        if not (request.user.is_active and request.user.is_staff):
            return False
        return obj is None or getattr(obj, f"{self.account_field}_id", None) == request.user.pk

    def has_view_permission(self, request, obj=None) -> bool:
        return self._may_touch(request, obj) and super().has_view_permission(request, obj)

    def has_change_permission(self, request, obj=None) -> bool:
        return self._may_touch(request, obj) and super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None) -> bool:
        return self._may_touch(request, obj) and super().has_delete_permission(request, obj)

    def get_form(self, request, obj=None, change=False, **kwargs):
        form = super().get_form(request, obj, change=change, **kwargs)
        if _operator(request) or self.account_field not in form.base_fields:
            return form
        field = form.base_fields[self.account_field]
        field.queryset = field.queryset.filter(pk=request.user.pk)
        field.initial = request.user.pk
        field.disabled = True
        return form

    def save_model(self, request, obj, form, change) -> None:
        if not _operator(request):
            setattr(obj, f"{self.account_field}_id", request.user.pk)
        super().save_model(request, obj, form, change)


class AccountScopedTabularInline(admin.TabularInline):
    pass
