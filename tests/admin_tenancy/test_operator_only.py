"""Operator-only admin pages (users, groups, periodic tasks): superusers only (API.md s.10)."""

import pytest
from django.contrib import admin
from django.contrib.auth.models import Permission

from mailpass.admin_tenancy import AccountScopedAdmin, OperatorOnlyAdminMixin

pytestmark = pytest.mark.django_db

OPERATOR_PAGES = (
    "/admin/auth/user/",
    "/admin/auth/group/",
    "/admin/django_celery_beat/periodictask/",
    "/admin/django_celery_beat/crontabschedule/",
)


def test_an_owner_sees_only_account_pages_on_the_index(alice_admin):
    response = alice_admin.get("/admin/")

    labels = {
        model["object_name"]
        for app in response.context["available_apps"]
        for model in app["models"]
    }
    assert {"ApiKey", "AccountSettings", "SmtpProvider", "Message", "QueueItem"} <= labels
    assert not labels & {"User", "Group", "PeriodicTask", "CrontabSchedule", "IntervalSchedule"}


def test_operator_pages_are_forbidden_to_an_owner_even_with_permissions(alice, alice_admin):
    alice.user_permissions.set(Permission.objects.all())

    for page in OPERATOR_PAGES:
        assert alice_admin.get(page).status_code == 403, page
    assert alice_admin.get(f"/admin/auth/user/{alice.pk}/change/").status_code in (302, 403)


def test_a_superuser_operates_the_operator_pages(root_admin):
    for page in OPERATOR_PAGES:
        assert root_admin.get(page).status_code == 200, page


def test_every_admin_of_an_account_owned_model_is_account_scoped():
    """A new admin must subclass AccountScopedAdmin; one that does not is operator-only."""
    for model, model_admin in admin.site._registry.items():
        field_names = {field.name for field in model._meta.get_fields()}
        if "account" in field_names:
            assert isinstance(model_admin, AccountScopedAdmin), model
        else:
            assert isinstance(model_admin, AccountScopedAdmin | OperatorOnlyAdminMixin), model
