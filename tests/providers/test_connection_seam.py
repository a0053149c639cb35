import pytest

from providers.services import provider_test_connection
from tests.factories import SmtpProviderFactory


@pytest.mark.django_db
def test_it_connects_with_starttls_and_auth(smtp_server_factory, alice):
    server = smtp_server_factory(
        require_starttls=True, auth_users={"u1": "s3cret"}, auth_required=True
    )
    provider = SmtpProviderFactory(
        account=alice,
        host=server.host,
        port=server.port,
        security="starttls",
        username="u1",
        password="s3cret",
    )
    check = provider_test_connection(provider=provider)
    assert check.ok, check.error
    assert any(step.startswith("QUIT: 221") for step in check.steps)


@pytest.mark.django_db
def test_it_reports_a_wrong_password(smtp_server_factory, alice):
    server = smtp_server_factory(
        require_starttls=True, auth_users={"u1": "s3cret"}, auth_required=True
    )
    provider = SmtpProviderFactory(
        account=alice,
        host=server.host,
        port=server.port,
        security="starttls",
        username="u1",
        password="wrong",
    )
    check = provider_test_connection(provider=provider)
    assert not check.ok
    assert check.error.startswith("535")


@pytest.mark.django_db
def test_it_connects_with_implicit_tls(smtp_server_factory, alice):
    server = smtp_server_factory(implicit_tls=True)
    provider = SmtpProviderFactory(
        account=alice, host=server.host, port=server.port, security="ssl"
    )
    assert provider_test_connection(provider=provider).ok
