"""create_api_key knows every permission name of API.md section 1."""

from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from accounts.services import api_key_authenticate


def create_key(*args: str) -> str:
    out = StringIO()
    call_command("create_api_key", "alice", *args, stdout=out)
    return out.getvalue().strip()


@pytest.mark.django_db
@pytest.mark.parametrize("name", ["mail", "templates", "suppressions", "webhooks"])
def test_create_api_key_takes_each_permission_of_the_contract_alone(alice, name):
    key = create_key("--permission", name)
    assert api_key_authenticate(plain_key=key).permissions == [name]


@pytest.mark.django_db
def test_create_api_key_takes_several_permissions(alice):
    key = create_key("--permission", "templates", "--permission", "mail")
    assert api_key_authenticate(plain_key=key).permissions == ["mail", "templates"]


@pytest.mark.django_db
def test_create_api_key_still_refuses_an_unknown_permission(alice):
    with pytest.raises(CommandError, match="templatez"):
        create_key("--permission", "templatez")
