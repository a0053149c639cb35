"""``manage.py create_account`` (API.md section 20): an account owner for the admin."""

from io import StringIO

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management import CommandError, call_command
from django.test import Client

from accounts.owners import PART1_OWNER_PERMISSIONS
from mailpass.admin_tenancy import OWNER_GROUP

pytestmark = pytest.mark.django_db


def run(*args: str) -> str:
    out = StringIO()
    call_command("create_account", *args, stdout=out)
    return out.getvalue()


def test_it_makes_a_staff_owner_in_the_owners_group_and_prints_the_id_alone():
    printed = run("carol", "--email", "carol@example.com")

    user = get_user_model().objects.get(username="carol")
    assert printed == f"{user.pk}\n"
    assert user.is_staff and not user.is_superuser
    assert user.email == "carol@example.com"
    assert list(user.groups.values_list("name", flat=True)) == [OWNER_GROUP]
    assert not user.has_usable_password()


def test_the_password_comes_from_the_named_environment_variable(monkeypatch):
    monkeypatch.setenv("CAROL_PASSWORD", "correct horse battery staple")

    run("carol", "--password-env", "CAROL_PASSWORD")

    client = Client()
    assert client.login(username="carol", password="correct horse battery staple")
    assert client.get("/admin/").status_code == 200


def test_an_unset_password_variable_is_an_error_and_creates_nobody(monkeypatch):
    monkeypatch.delenv("NOPE_PASSWORD", raising=False)

    with pytest.raises(CommandError, match="NOPE_PASSWORD"):
        run("carol", "--password-env", "NOPE_PASSWORD")
    assert not get_user_model().objects.filter(username="carol").exists()


def test_an_existing_username_is_an_error():
    get_user_model().objects.create_user(username="carol")

    with pytest.raises(CommandError, match="already exists"):
        run("carol")
    assert get_user_model().objects.filter(username="carol").count() == 1


def test_the_migration_gives_the_group_every_permission_an_owner_needs():
    group = Group.objects.get(name=OWNER_GROUP)
    granted = {
        f"{app}.{codename}"
        for app, codename in group.permissions.values_list("content_type__app_label", "codename")
    }
    assert set(PART1_OWNER_PERMISSIONS) <= granted
    assert not any(name.startswith(("auth.", "django_celery_beat.")) for name in granted)


def test_a_new_owner_sees_the_account_pages_of_the_admin():
    owner = get_user_model().objects.get(pk=int(run("carol")))
    client = Client()
    client.force_login(owner)

    for page in (
        "/admin/providers/smtpprovider/",
        "/admin/providers/smtpprovider/add/",
        "/admin/accounts/apikey/",
        "/admin/accounts/apikey/add/",
        "/admin/accounts/accountsettings/add/",
        "/admin/mail/message/",
        "/admin/mail/queueitem/",
    ):
        assert client.get(page).status_code == 200, page
