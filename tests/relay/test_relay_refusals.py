"""Each refusal of API.md section 18, with its reply code, one by one."""

import smtplib

import pytest
from aiosmtpd.smtp import SMTP

from accounts import throttling
from accounts.models import ApiKey
from accounts.services import api_key_revoke
from mail.models import Message
from relay.server import RelaySMTP
from tests.factories import SmtpProviderFactory, api_key_for
from tests.relay.conftest import plain_auth, simple_message

pytestmark = pytest.mark.django_db(transaction=True)


def _refused_at_auth(client: smtplib.SMTP, key: str) -> tuple[int, bytes]:
    with pytest.raises(smtplib.SMTPAuthenticationError) as refused:
        client.login("mailpass", key)
    return refused.value.smtp_code, refused.value.smtp_error


def _login_with(client: smtplib.SMTP, mechanism: str, key: str) -> None:
    client.esmtp_features["auth"] = mechanism  # smtplib then uses this mechanism only
    client.login("mailpass", key)


@pytest.mark.parametrize("mechanism", ["PLAIN", "LOGIN"])
def test_an_unknown_key_is_535_5_7_8_at_auth(smtp_client, alice_provider, mechanism):
    with pytest.raises(smtplib.SMTPAuthenticationError) as refused:
        _login_with(smtp_client(), mechanism, "mp_live_" + "x" * 43)
    assert refused.value.smtp_code == 535
    assert refused.value.smtp_error == b"5.7.8 Authentication credentials invalid"


@pytest.mark.parametrize("mechanism", ["PLAIN", "LOGIN"])
def test_a_valid_key_authenticates_with_plain_and_login_whatever_the_user_name(
    smtp_client, alice_key, mechanism
):
    client = smtp_client()
    client.esmtp_features["auth"] = mechanism
    assert client.login("any name at all", alice_key)[0] == 235


def test_a_revoked_key_is_535_at_auth(smtp_client, alice, alice_key):
    api_key_revoke(api_key=ApiKey.objects.get(account=alice))
    assert _refused_at_auth(smtp_client(), alice_key)[0] == 535


def test_a_key_without_the_mail_permission_is_535_at_auth(smtp_client, alice):
    key = api_key_for(alice, permissions=["templates"])
    assert _refused_at_auth(smtp_client(), key) == (
        535,
        b"5.7.8 Authentication credentials invalid",
    )


def test_a_key_revoked_while_connected_is_550_5_7_1_at_the_next_mail(
    smtp_client, alice, alice_key, alice_provider
):
    client = smtp_client(alice_key)
    api_key_revoke(api_key=ApiKey.objects.get(account=alice))
    code, reply = client.mail("support@yourdomain.com")
    assert code == 550 and reply.startswith(b"5.7.1 ")


def test_a_key_that_lost_the_mail_permission_is_550_5_7_1_at_mail(
    smtp_client, alice, alice_key, alice_provider
):
    client = smtp_client(alice_key)
    ApiKey.objects.filter(account=alice).update(permissions=["templates"])
    code, reply = client.mail("support@yourdomain.com")
    assert code == 550 and reply.startswith(b"5.7.1 ")


def test_a_key_revoked_after_its_first_message_is_550_5_7_1_at_the_next_mail(
    smtp_client, alice, alice_key, alice_provider
):
    # The session keeps the key AUTH loaded; every MAIL still reads its state again.
    client = smtp_client(alice_key)
    client.sendmail("support@yourdomain.com", ["user@example.com"], simple_message())
    api_key_revoke(api_key=ApiKey.objects.get(account=alice))
    code, reply = client.mail("support@yourdomain.com")
    assert code == 550 and reply.startswith(b"5.7.1 ")
    assert Message.objects.filter(account=alice).count() == 1


def test_a_deactivated_account_is_550_5_7_1_at_the_next_mail(
    smtp_client, alice, alice_key, alice_provider
):
    client = smtp_client(alice_key)
    client.sendmail("support@yourdomain.com", ["user@example.com"], simple_message())
    type(alice).objects.filter(pk=alice.pk).update(is_active=False)
    code, reply = client.mail("support@yourdomain.com")
    assert code == 550 and reply.startswith(b"5.7.1 ")


def test_a_provider_deactivated_while_connected_is_451_4_3_0_at_the_next_mail(
    smtp_client, alice, alice_key, alice_provider
):
    client = smtp_client(alice_key)
    client.sendmail("support@yourdomain.com", ["user@example.com"], simple_message())
    type(alice_provider).objects.filter(pk=alice_provider.pk).update(is_active=False)
    code, reply = client.mail("support@yourdomain.com")
    assert code == 451 and reply.startswith(b"4.3.0 ")


def test_mail_before_auth_is_530_5_7_0(smtp_client, alice_provider):
    code, reply = smtp_client().mail("support@yourdomain.com")
    assert (code, reply) == (530, b"5.7.0 Authentication required")


def test_no_default_provider_is_451_4_3_0_at_mail(smtp_client, alice, alice_key):
    SmtpProviderFactory(account=alice, is_default=True, is_active=False)
    code, reply = smtp_client(alice_key).mail("support@yourdomain.com")
    assert code == 451 and reply.startswith(b"4.3.0 ")


def test_over_the_api_rate_is_421_4_7_0_and_the_connection_closes(
    settings, monkeypatch, smtp_client, alice, alice_key, alice_provider
):
    settings.MAILPASS_API_RATE = "2/min"
    monkeypatch.setattr(throttling.time, "time", lambda: 1_800_000_030.0)  # mid-window
    client = smtp_client(alice_key)
    for _ in range(2):
        client.sendmail("support@yourdomain.com", ["user@example.com"], simple_message())
    code, reply = client.mail("support@yourdomain.com")
    assert code == 421 and reply.startswith(b"4.7.0 ")
    with pytest.raises(smtplib.SMTPServerDisconnected):
        client.noop()
    assert Message.objects.filter(account=alice).count() == 2


def test_over_size_is_552_5_3_4_at_mail_and_after_data(
    settings, relay_factory, alice, alice_key, alice_provider
):
    settings.MAILPASS_MAX_BODY_BYTES = 2000
    relay = relay_factory(allow_plain_auth=True)
    client = smtplib.SMTP("127.0.0.1", relay.port, timeout=10)
    client.ehlo()
    assert client.has_extn("size") and client.esmtp_features["size"] == "2000"
    client.login("mailpass", alice_key)
    code, reply = client.mail("support@yourdomain.com", ["SIZE=5000"])
    assert (code, reply) == (552, b"5.3.4 Message too big for system")
    client.rset()
    client.mail("support@yourdomain.com")  # no SIZE given: the server counts during DATA
    client.rcpt("user@example.com")
    code, reply = client.data(simple_message(body="x" * 70 + ("\r\n" + "x" * 70) * 40))
    assert (code, reply) == (552, b"5.3.4 Message too big for system")
    client.close()
    assert not Message.objects.filter(account=alice).exists()


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        (simple_message(to="not-an-address"), b"to: "),
        ("From: support@yourdomain.com\r\nTo: user@example.com\r\n\r\nNo subject\r\n", b"subject"),
        (simple_message(extra="X-MailPass-Metadata: [1, 2]\r\n"), b"metadata: "),
        (simple_message(extra="X-MailPass-Metadata: {not json\r\n"), b"metadata: "),
        (simple_message(extra="X-MailPass-Track-Opens: yes\r\n"), b"track_opens: "),
        (simple_message(extra="X-MailPass-Tags: " + ",".join("t" * 11) + "\r\n"), b"tags: "),
        ("From: support@yourdomain.com\r\nSubject: Hi\r\n\r\nNo To header\r\n", b"to: "),
        (simple_message(extra="X-MailPass-Template: welcome\r\n"), b"headers.X-MailPass-Template"),
        (
            simple_message(
                extra="MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b\r\n",
                body="--b\r\nContent-Type: text/plain\r\n\r\nHi\r\n--b\r\n"
                "Content-Type: application/octet-stream\r\n"
                'Content-Disposition: attachment; filename="setup.exe"\r\n'
                "Content-Transfer-Encoding: base64\r\n\r\nTVo=\r\n--b--",
            ),
            b"attachments[0].filename: ",
        ),
        (
            simple_message(
                extra="MIME-Version: 1.0\r\nContent-Type: application/pdf\r\n"
                'Content-Disposition: attachment; filename="a.pdf"\r\n',
                body="JVBERg==",
            ),
            b"html: ",
        ),
    ],
)
def test_a_message_that_breaks_the_rules_of_the_api_is_550_5_6_0_naming_the_field(
    smtp_client, alice, alice_key, alice_provider, raw, field
):
    client = smtp_client(alice_key)
    with pytest.raises(smtplib.SMTPDataError) as refused:
        client.sendmail("support@yourdomain.com", ["user@example.com"], raw)
    assert refused.value.smtp_code == 550
    assert refused.value.smtp_error.startswith(b"5.6.0 " + field), refused.value.smtp_error
    assert not Message.objects.filter(account=alice).exists()


def test_auth_is_not_offered_before_starttls(relay_tls, alice_key):
    client = smtplib.SMTP("127.0.0.1", relay_tls.port, timeout=10)
    client.ehlo()
    assert client.has_extn("starttls") and not client.has_extn("auth")
    code, _ = client.docmd("AUTH", "PLAIN " + plain_auth(alice_key))
    assert code == 538
    code, reply = client.mail("support@yourdomain.com")
    assert code == 530
    client.close()


def test_a_malformed_recipient_is_553_each_time(smtp_client, alice_key, alice_provider):
    client = smtp_client(alice_key)
    client.mail("support@yourdomain.com")
    assert client.docmd("RCPT", "TO:<a@b@c>")[0] == 553
    assert client.docmd("RCPT", "TO:<a@b@c>")[0] == 553  # a kept parse answers alike


@pytest.mark.parametrize("limit", [0, 4])
def test_mail_and_rcpt_arguments_parse_as_aiosmtpd_parses_them(limit):
    arguments = [
        "",
        "<>",
        "<user@example.com>",
        "user@example.com",
        "<user@example.com> SIZE=10 BODY=8BITMIME",
        "<a@b@c>",
        "<not an address>",
        "x <y@z>",
        '<"q u"@example.com>',
        "<averylonglocalpart@example.com>",
    ]
    ours, theirs = RelaySMTP(object()), SMTP(object())
    ours.local_part_limit = theirs.local_part_limit = limit
    for _ in range(2):  # the second round answers from the kept parses
        assert [ours._getaddr(a) for a in arguments] == [theirs._getaddr(a) for a in arguments]


def test_more_than_50_recipients_are_refused_one_by_one(
    smtp_client, alice, alice_key, alice_provider
):
    client = smtp_client(alice_key)
    client.mail("support@yourdomain.com")
    codes = [client.rcpt(f"u{n}@example.com")[0] for n in range(51)]
    assert codes == [250] * 50 + [452]
