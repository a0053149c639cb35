"""The MIME -> message mapping of section 18 (a pure function: no server, no database)."""

from email.message import EmailMessage
from email.policy import SMTP

import pytest

from relay.mime import MimeRejected, mime_to_message


def _mail(**headers: str) -> EmailMessage:
    mail = EmailMessage(policy=SMTP)
    for name, value in headers.items():
        mail[name.replace("_", "-")] = value
    mail.set_content("Hello\nthere")
    return mail


def test_the_first_to_is_to_other_to_and_cc_are_cc_and_the_rest_of_the_envelope_is_bcc():
    mail = _mail(To="A <a@example.com>, b@example.com", Cc="c@example.com, B@example.com")
    mapped = mime_to_message(
        raw=mail.as_bytes(),
        rcpt_tos=[
            "a@example.com",
            "b@example.com",
            "c@example.com",
            "d@example.com",
            "D@example.com",
        ],
        mail_from="bounce@example.com",
    )
    assert mapped.data["to"] == "a@example.com"
    assert mapped.data["cc"] == ["b@example.com", "c@example.com"]
    assert mapped.data["bcc"] == ["d@example.com"]


def test_a_bcc_header_left_by_the_client_is_not_kept():
    mail = _mail(To="a@example.com", Bcc="secret@example.com")
    mapped = mime_to_message(
        raw=mail.as_bytes(), rcpt_tos=["a@example.com", "secret@example.com"], mail_from=""
    )
    assert mapped.data["bcc"] == ["secret@example.com"]
    assert "Bcc" not in mapped.headers


def test_from_and_reply_to_come_from_the_headers_and_the_envelope_sender_is_the_fallback():
    mail = _mail(
        To="a@example.com", From='"Shop, Inc." <shop@example.com>', Reply_To="r@example.com"
    )
    mapped = mime_to_message(raw=mail.as_bytes(), rcpt_tos=["a@example.com"], mail_from="x@y.z")
    assert (mapped.data["from_email"], mapped.data["from_name"]) == (
        "shop@example.com",
        "Shop, Inc.",
    )
    assert mapped.data["reply_to"] == "r@example.com"
    bare = mime_to_message(raw=_mail(To="a@example.com").as_bytes(), rcpt_tos=[], mail_from="x@y.z")
    assert bare.data["from_email"] == "x@y.z" and "from_name" not in bare.data


def test_text_and_html_parts_are_the_bodies_with_plain_line_ends():
    mail = _mail(To="a@example.com", Subject="Grüße")
    mail.add_alternative("<p>Hello</p>\n", subtype="html")
    mapped = mime_to_message(raw=mail.as_bytes(), rcpt_tos=[], mail_from="")
    assert mapped.data["text"] == "Hello\nthere\n"
    assert mapped.data["html"] == "<p>Hello</p>\n"
    assert mapped.data["subject"] == "Grüße"
    assert mapped.attachments == []


def test_attachments_and_inline_parts_are_found_at_any_depth_byte_for_byte():
    mail = _mail(To="a@example.com")
    mail.add_alternative('<p><img src="cid:logo"></p>', subtype="html")
    html = mail.get_payload()[1]
    html.add_related(b"\x89PNG\r\n\x00\x01", "image", "png", cid="<logo>")
    mail.add_attachment(b"%PDF-1.4 \x00\xff", "application", "pdf", filename="invoice.pdf")
    mapped = mime_to_message(raw=mail.as_bytes(), rcpt_tos=[], mail_from="")
    assert mapped.data["html"] == '<p><img src="cid:logo"></p>\n'
    inline, pdf = mapped.attachments
    assert inline["content_id"] == "logo" and inline["content_type"] == "image/png"
    assert inline["content"] == b"\x89PNG\r\n\x00\x01"
    assert pdf["filename"] == "invoice.pdf" and "content_id" not in pdf
    assert pdf["content"] == b"%PDF-1.4 \x00\xff"


def test_other_headers_are_kept_and_those_mailpass_writes_or_consumes_are_not():
    mail = _mail(
        To="a@example.com",
        Message_ID="<client@example.com>",
        Date="Tue, 01 Dec 2026 00:00:00 +0000",
        Received="from somewhere",
        List_Unsubscribe="<https://example.com/u>",
        X_MailPass_Tags="a, b,,",
        X_Campaign="Winter Sale – 2026",
    )
    mapped = mime_to_message(raw=mail.as_bytes(), rcpt_tos=[], mail_from="")
    assert mapped.headers == {
        "List-Unsubscribe": "<https://example.com/u>",
        "X-Campaign": "Winter Sale – 2026",
    }
    assert mapped.data["tags"] == ["a", "b"]


@pytest.mark.parametrize(
    ("headers", "field"),
    [
        ({"To": "a@example.com", "X_MailPass_Metadata": "{nope"}, "metadata"),
        ({"To": "a@example.com", "X_MailPass_Track_Clicks": "1"}, "track_clicks"),
        ({"Cc": "a@example.com"}, "to"),
    ],
)
def test_what_cannot_be_mapped_is_refused_naming_the_field(headers, field):
    mail = _mail(**headers)
    with pytest.raises(MimeRejected) as refused:
        mime_to_message(raw=mail.as_bytes(), rcpt_tos=["a@example.com"], mail_from="")
    assert refused.value.field == field


def test_kept_header_parses_never_carry_one_message_into_the_next():
    # Structural headers are parsed once per distinct value (relay.mime._RelayPolicy): two
    # messages in a row with other charsets, encodings and a folded Content-Type still map
    # as policy.default maps each on its own.
    latin = (
        b"To: a@example.com\r\nSubject: Hi\r\nMIME-Version: 1.0\r\n"
        b'Content-Type: text/plain;\r\n charset="iso-8859-1"\r\n'
        b"Content-Transfer-Encoding: quoted-printable\r\n\r\nCaf=E9\r\n"
    )
    utf8 = _mail(To="a@example.com")
    utf8.set_content("Café ☕")
    for _ in range(2):
        assert mime_to_message(raw=latin, rcpt_tos=[], mail_from="").data["text"] == "Café\n"
        mapped = mime_to_message(raw=utf8.as_bytes(), rcpt_tos=[], mail_from="")
        assert mapped.data["text"] == "Café ☕\n"


def test_the_mapping_equals_the_one_made_with_policy_default():
    from email import message_from_bytes, policy

    mail = _mail(To="a@example.com", Cc="c@example.com", From="Shop <shop@example.com>")
    mail.add_alternative("<p>Hi</p>", subtype="html")
    mail.add_attachment(b"%PDF", maintype="application", subtype="pdf", filename="a.pdf")
    raw = mail.as_bytes()
    mapped = mime_to_message(raw=raw, rcpt_tos=["a@example.com"], mail_from="")
    reference = message_from_bytes(raw, policy=policy.default)
    for field, subtype in (("text", "plain"), ("html", "html")):
        body = reference.get_body((subtype,)).get_content().replace("\r\n", "\n")
        assert mapped.data[field] == body
    assert [(a["filename"], a["content_type"], a["content"]) for a in mapped.attachments] == [
        ("a.pdf", "application/pdf", b"%PDF")
    ]
