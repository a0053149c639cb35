"""Headers filled from input arrive exactly as given, on lines of at most 998 characters.

Issue 9 defect 7: a 998-character subject without a space was folded onto a continuation line
of its own (999 characters, read back with a leading space). Checked on what a real SMTP
server received, parsed with Python's ``policy.default``; the sender's display name is decoded
with ``email.header`` (RFC 2047's rule: white space between two encoded-words is dropped;
``policy.default``'s address parser keeps it).
"""

import email
import email.header

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mail.composer import email_build
from tests.factories import MessageFactory

pytestmark = pytest.mark.django_db


def send(client, **fields):
    body = {"to": "user@example.com", "subject": "Hello", "text": "Hi", **fields}
    return client.post("/api/v1/mail/send", body, format="json")


def longest_line(raw: bytes) -> int:
    return max(len(line) for line in raw.split(b"\r\n"))


def decoded_sender(raw: bytes) -> str:
    value = email.message_from_bytes(raw)["From"].replace("\r\n", "")
    return str(email.header.make_header(email.header.decode_header(value)))


SUBJECTS = {
    "998 characters without a space": "x" * 998,
    "998 non-ASCII characters": "é" * 998,
    "998 emoji": "\N{GRINNING FACE}" * 998,
    "long words with commas and semicolons": "a;b,c " * 166,
    "leading, trailing and doubled spaces": "  spaced  out  ",
    "something that looks like an encoded-word": "=?utf-8?q?hello?= world",
    "a tab": "before\tafter",
    "a short plain subject": "Order Confirmation",
}


@pytest.mark.parametrize("subject", SUBJECTS.values(), ids=SUBJECTS.keys())
def test_the_subject_arrives_exactly_on_short_lines(
    alice_client, alice_provider, smtp_server, subject
):
    assert send(alice_client, subject=subject).status_code == 200

    received = smtp_server.messages[0]
    assert longest_line(received.raw) <= 998
    assert str(received.parsed["Subject"]) == subject


def test_a_plain_subject_stays_readable_text(alice_client, alice_provider, smtp_server):
    send(alice_client, subject="Order Confirmation")

    assert b"\r\nSubject: Order Confirmation\r\n" in smtp_server.messages[0].raw


@pytest.mark.parametrize(
    "name", ["Your App", "Zoë " * 63 + "Zoë", "Support, Billing; Sales", "x" * 255, "日本" * 127]
)
def test_the_sender_name_arrives_exactly_on_short_lines(
    alice_client, alice_provider, smtp_server, name
):
    assert send(alice_client, from_name=name).status_code == 200

    raw = smtp_server.messages[0].raw
    assert longest_line(raw) <= 998
    assert decoded_sender(raw) in (
        f"{name} <support@yourdomain.com>",
        f'"{name}" <support@yourdomain.com>',
    )
    (sender,) = smtp_server.messages[0].parsed["From"].addresses
    assert sender.addr_spec == "support@yourdomain.com"


def test_custom_header_values_arrive_exactly_on_short_lines(
    alice_client, alice_provider, smtp_server
):
    headers = {
        "X-Long-Word": "y" * 998,
        "X-Unicode": "Grüße " * 160,
        "X-Commas": "a, b; c" * 140,
        "X-" + "N" * 98: "value",
        "X-Empty": "",
    }

    assert send(alice_client, headers=headers).status_code == 200

    received = smtp_server.messages[0]
    assert longest_line(received.raw) <= 998
    for name, value in headers.items():
        assert str(received.parsed[name]) == value


# Pure logic: the composer's headers for any text, without SMTP (the tests above cover SMTP).
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    subject=st.text(
        st.characters(blacklist_categories=("Cs",), blacklist_characters="\r\n\x00"),
        min_size=1,
        max_size=998,
    ),
    value=st.text(
        st.characters(blacklist_categories=("Cs",), blacklist_characters="\r\n\x00"),
        max_size=998,
    ),
)
def test_any_subject_and_header_value_decode_exactly(subject, value):
    message = MessageFactory.build(
        subject=subject, html="", text="Hi", headers={"X-Anything": value}, is_test=True
    )
    raw = email_build(message).message().as_bytes(linesep="\r\n")

    assert longest_line(raw) <= 998
    parsed = email.message_from_bytes(raw, policy=email.policy.default)
    assert str(parsed["Subject"]) == subject
    assert str(parsed["X-Anything"]) == value
