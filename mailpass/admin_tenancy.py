"""Tenancy in the admin (API.md section 10): one base class for every ModelAdmin.

A superuser operates everything. A staff user who is not a superuser is an account owner: every
list, filter, search, count, form choice, inline, action and URL of an ``AccountScopedAdmin``
shows and touches only objects of their own account, new objects belong to them, and another
account's id in a URL is the admin's ordinary "doesn't exist" page. What an owner may do at all
(view, add, change, delete) is Django's permissions, granted through the group
``account owners`` (see ``accounts.owners``).

Use it for every admin of an account-owned model::

    @admin.register(Template)
    class TemplateAdmin(AccountScopedAdmin):
        account_field = "account"            # or "endpoint__account" for an indirect owner
        actions = ("replay",)

        @admin.action(description="Replay", permissions=["change"])  # never without permissions
        def replay(self, request, queryset): ...

and ``AccountScopedTabularInline`` / ``AccountScopedStackedInline`` for inlines. An admin that is
not an ``AccountScopedAdmin`` is made operator-only when the admin site is confined
(``admin_site_confine``, run once at start-up): owners never see it, whatever permissions they
hold, so forgetting the base class fails closed.
"""

from __future__ import annotations

from django.contrib import admin
from django.contrib.admin.filters import RelatedFieldListFilter, RelatedOnlyFieldListFilter
from django.contrib.auth import get_user_model
from django.db import models
from django.db.models import QuerySet
from django.http import HttpRequest

OWNER_GROUP = "account owners"


def is_operator(request: HttpRequest) -> bool:
    return bool(request.user.is_active and request.user.is_superuser)


def _account_path(model: type[models.Model], site: admin.AdminSite) -> str | None:
    """How a model's rows name their account (``"account"``, ``"message__account"``), or None
    when the model is not owned by an account (then owners get none of it)."""
    if model is get_user_model():
        return "pk"
    model_admin = site._registry.get(model)
    if isinstance(model_admin, AccountScopedAdmin):
        return model_admin.account_field
    try:
        field = model._meta.get_field("account")
    except Exception:  # FieldDoesNotExist: not an account-owned model
        return None
    if field.is_relation and field.related_model is get_user_model():
        return "account"
    return None


def owner_queryset(
    model: type[models.Model], request: HttpRequest, site: admin.AdminSite
) -> QuerySet | None:
    """The rows of ``model`` the request's user may see or pick; None for an operator (all).

    Through the model's own ``AccountScopedAdmin`` when it has one, so a form choice, an
    autocomplete and a list filter answer exactly what that admin's list would show.
    """
    if is_operator(request):
        return None
    model_admin = site._registry.get(model)
    if isinstance(model_admin, AccountScopedAdmin):
        return model_admin.get_queryset(request)
    path = _account_path(model, site)
    if path is None:
        return model._default_manager.none()
    return model._default_manager.filter(**{path: request.user.pk})


def _scope_formfield(formfield, db_field, request: HttpRequest, site: admin.AdminSite):
    if formfield is None or not hasattr(formfield, "queryset"):
        return formfield
    allowed = owner_queryset(db_field.related_model, request, site)
    if allowed is not None:
        formfield.queryset = formfield.queryset.filter(pk__in=allowed.values("pk"))
    return formfield


class AccountScopedFormMixin:
    """Form choices (foreign keys, many-to-many) limited to what the owner may pick."""

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        formfield = super().formfield_for_foreignkey(db_field, request, **kwargs)
        return _scope_formfield(formfield, db_field, request, self.admin_site)

    def formfield_for_manytomany(self, db_field, request, **kwargs):
        formfield = super().formfield_for_manytomany(db_field, request, **kwargs)
        return _scope_formfield(formfield, db_field, request, self.admin_site)


class AccountScopedAdmin(AccountScopedFormMixin, admin.ModelAdmin):
    """A ModelAdmin whose rows belong to accounts; see the module docstring."""

    # The path from this model to its account (a user); "message__account" for an event.
    account_field: str = "account"

    # -- what an owner sees -------------------------------------------------------------
    def get_queryset(self, request: HttpRequest) -> QuerySet:
        queryset = super().get_queryset(request)
        if is_operator(request):
            return queryset
        return queryset.filter(**{self.account_field: request.user.pk})

    def owner_id_of(self, obj: models.Model) -> int | None:
        target = obj
        *hops, last = self.account_field.split("__")
        for hop in hops:
            target = getattr(target, hop, None)
            if target is None:
                return None
        return getattr(target, f"{last}_id", None)

    def _may_touch(self, request: HttpRequest, obj: models.Model | None) -> bool:
        if is_operator(request):
            return True
        if not (request.user.is_active and request.user.is_staff):
            return False
        return obj is None or self.owner_id_of(obj) == request.user.pk

    def has_view_permission(self, request: HttpRequest, obj=None) -> bool:
        return self._may_touch(request, obj) and super().has_view_permission(request, obj)

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return self._may_touch(request, obj) and super().has_change_permission(request, obj)

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return self._may_touch(request, obj) and super().has_delete_permission(request, obj)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return self._may_touch(request, None) and super().has_add_permission(request)

    # -- lists ---------------------------------------------------------------------------
    def _is_account_column(self, name) -> bool:
        return name == self.account_field or name == self.account_field.split("__")[0]

    def get_list_filter(self, request: HttpRequest):
        """Owners: no account filter, and related-object filters list only related objects
        of the owner's own rows (Django's RelatedOnlyFieldListFilter), never every account's."""
        filters = super().get_list_filter(request)
        if is_operator(request):
            return filters
        scoped = []
        for entry in filters:
            name, filter_class = entry if isinstance(entry, (tuple, list)) else (entry, None)
            if not isinstance(name, str):
                scoped.append(entry)  # a SimpleListFilter class: scoped by its own queryset
                continue
            if self._is_account_column(name):
                continue
            field = _final_field(self.model, name)
            is_related_filter = filter_class is None or (
                isinstance(filter_class, type)
                and issubclass(filter_class, RelatedFieldListFilter)
                and not issubclass(filter_class, RelatedOnlyFieldListFilter)
            )
            if field is not None and field.is_relation and is_related_filter:
                scoped.append((name, RelatedOnlyFieldListFilter))
            else:
                scoped.append(entry)
        return scoped

    # -- forms ---------------------------------------------------------------------------
    def get_changeform_initial_data(self, request: HttpRequest) -> dict:
        initial = super().get_changeform_initial_data(request)
        if not is_operator(request) and "__" not in self.account_field:
            initial[self.account_field] = request.user.pk
        return initial

    def get_form(self, request: HttpRequest, obj=None, change: bool = False, **kwargs):
        form = super().get_form(request, obj, change=change, **kwargs)
        if is_operator(request) or "__" in self.account_field:
            return form
        account_field, owner = self.account_field, request.user

        class OwnerForm(form):
            """The account field shows the owner and cannot be changed (a disabled field
            takes its initial value whatever is posted), so the model's own validation
            (one settings row per account, unique names per account) still runs."""

            def __init__(self, *args, **kwargs) -> None:
                super().__init__(*args, **kwargs)
                if account_field in self.fields:
                    self.initial[account_field] = owner.pk
                    self.fields[account_field].disabled = True
                    self.fields[account_field].required = True

        OwnerForm.__name__ = form.__name__
        return OwnerForm

    def save_model(self, request: HttpRequest, obj, form, change: bool) -> None:
        if not is_operator(request) and "__" not in self.account_field:
            setattr(obj, f"{self.account_field}_id", request.user.pk)
        super().save_model(request, obj, form, change)


def _final_field(model: type[models.Model], path: str):
    field = None
    for part in path.split("__"):
        try:
            field = model._meta.get_field(part)
        except Exception:
            return None
        if field.is_relation and field.related_model is not None:
            model = field.related_model
    return field


class AccountScopedInlineMixin(AccountScopedFormMixin):
    """Inlines: their rows hang off a scoped parent; their own choices are scoped too."""


class AccountScopedTabularInline(AccountScopedInlineMixin, admin.TabularInline):
    pass


class AccountScopedStackedInline(AccountScopedInlineMixin, admin.StackedInline):
    pass


class OperatorOnlyAdminMixin:
    """Users, groups, periodic tasks and anything not owned by an account: superusers only."""

    def has_module_permission(self, request: HttpRequest) -> bool:
        return is_operator(request) and super().has_module_permission(request)

    def has_view_permission(self, request: HttpRequest, obj=None) -> bool:
        return is_operator(request) and super().has_view_permission(request, obj)

    def has_add_permission(self, request: HttpRequest, *args) -> bool:
        return is_operator(request) and super().has_add_permission(request, *args)

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return is_operator(request) and super().has_change_permission(request, obj)

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return is_operator(request) and super().has_delete_permission(request, obj)


def admin_site_confine(site: admin.AdminSite) -> None:
    """Make every registered admin that is not an ``AccountScopedAdmin`` operator-only.

    Called once all admin modules are loaded (``AccountsConfig.ready``: the admin app's
    autodiscover runs first).
    """
    for model_admin in site._registry.values():
        cls = type(model_admin)
        if isinstance(model_admin, AccountScopedAdmin | OperatorOnlyAdminMixin):
            continue
        model_admin.__class__ = type(
            f"OperatorOnly{cls.__name__}", (OperatorOnlyAdminMixin, cls), {}
        )


__all__ = [
    "OWNER_GROUP",
    "AccountScopedAdmin",
    "AccountScopedStackedInline",
    "AccountScopedTabularInline",
    "OperatorOnlyAdminMixin",
    "admin_site_confine",
    "is_operator",
    "owner_queryset",
]
