"""STARTTLS with the configured certificate, then AUTH and a message (smtplib)."""

import smtplib

import pytest

from mail.models import Message
from tests.relay.conftest import client_tls_context, simple_message

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.mark.parametrize("mechanism", ["PLAIN", "LOGIN"])
def test_smtplib_sends_after_starttls_with_the_relays_certificate(
    relay_tls, alice, alice_key, alice_provider, smtp_server, mechanism
):
    client = smtplib.SMTP("localhost", relay_tls.port, timeout=10)
    client.ehlo()
    assert client.has_extn("starttls")
    client.starttls(context=client_tls_context())  # checks the certificate and host name
    client.ehlo()
    assert set(client.esmtp_features["auth"].split()) == {"PLAIN", "LOGIN"}
    client.esmtp_features["auth"] = mechanism
    assert client.login("mailpass", alice_key)[0] == 235
    client.sendmail("support@yourdomain.com", ["user@example.com"], simple_message())
    client.quit()

    message = Message.objects.get(account=alice)
    assert [m.rcpt_tos for m in smtp_server.by_message_id(message.message_id)] == [
        ["user@example.com"]
    ]


def test_starttls_is_not_offered_twice_and_auth_needs_no_plain_switch(
    relay_tls, alice_key, alice_provider
):
    client = smtplib.SMTP("localhost", relay_tls.port, timeout=10)
    client.starttls(context=client_tls_context())
    client.ehlo()
    assert not client.has_extn("starttls")
    assert client.login("mailpass", alice_key)[0] == 235
    client.quit()
