import re
from io import StringIO

import pytest
from django.core.management import call_command

from accounts.models import ApiKey
from accounts.services import api_key_authenticate
from providers.models import SmtpProvider
from providers.selectors import provider_get_default

KEY = re.compile(r"mp_live_[A-Za-z0-9_-]{32,}")


def quickstart() -> str:
    out = StringIO()
    call_command("quickstart", "--setup-only", stdout=out)
    return out.getvalue()


@pytest.mark.django_db
def test_the_first_run_prints_a_working_key_and_points_the_demo_at_the_sink():
    output = quickstart()
    [key] = set(KEY.findall(output))
    api_key = api_key_authenticate(plain_key=key)
    assert api_key.account.username == "demo"
    assert api_key.has_permission("mail")
    assert f"Bearer {key}" in output  # the cURL example is ready to paste
    provider = provider_get_default(account=api_key.account)
    assert (provider.host, provider.port, provider.security) == ("127.0.0.1", 1025, "none")
    assert provider.from_email == "support@example.com"


@pytest.mark.django_db
def test_later_runs_show_only_the_prefix_and_create_nothing_new():
    first_key = KEY.search(quickstart()).group()
    output = quickstart()
    assert not KEY.search(output)
    assert first_key[:12] in output
    assert "create_api_key demo" in output
    assert ApiKey.objects.count() == 1
    assert SmtpProvider.objects.count() == 1


@pytest.mark.django_db
def test_a_revoked_quickstart_key_is_replaced():
    first_key = KEY.search(quickstart()).group()
    ApiKey.objects.update(revoked_at="2026-01-01T00:00:00Z")
    second_key = KEY.search(quickstart()).group()
    assert second_key != first_key


@pytest.mark.django_db
def test_a_later_run_with_another_sink_port_moves_the_demo_provider_there():
    quickstart()
    out = StringIO()
    call_command("quickstart", "--setup-only", "--sink-port", "1036", stdout=out)

    provider = SmtpProvider.objects.get(account__username="demo")
    assert provider.port == 1036
    assert "(127.0.0.1:1036)" in out.getvalue()


@pytest.mark.django_db
def test_the_banner_commands_run_in_the_virtualenv():
    output = quickstart()
    assert ".venv/bin/python manage.py createsuperuser" in output
    assert " python manage.py" not in output.replace(".venv/bin/python manage.py", "")
