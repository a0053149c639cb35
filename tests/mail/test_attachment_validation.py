"""Bad attachments are refused naming the field; nothing is stored or sent (API.md s.12)."""

import pytest

from mail.models import AttachmentContent, Message
from tests.mail.attachment_helpers import b64

pytestmark = pytest.mark.django_db

OK = {"filename": "a.pdf", "content": "JVBERg=="}
TEN_MIB = 10 * 1024 * 1024


def send(client, attachments, **fields):
    body = {"to": "user@example.com", "subject": "Hi", "text": "Hi", "attachments": attachments}
    return client.post("/api/v1/mail/send", {**body, **fields}, format="json")


def refused(response, *fields: str) -> dict:
    assert response.status_code == 400, response.json()
    error = response.json()["error"]
    assert error["code"] == "VALIDATION_ERROR"
    assert sorted(error["details"]) == sorted(fields)
    assert error["message"].split(": ")[0] in fields
    return error["details"]


BAD = {
    # content
    "bad base64": ([{**OK, "content": "not base64!"}], "attachments[0].content"),
    "base64 without padding": ([{**OK, "content": "QQ"}], "attachments[0].content"),
    "url-safe base64": ([{**OK, "content": "-_-_"}], "attachments[0].content"),
    "base64 with spaces": ([{**OK, "content": "QUJD REVG"}], "attachments[0].content"),
    "non-canonical base64": ([{**OK, "content": "QR=="}], "attachments[0].content"),
    "non-ASCII in base64": ([{**OK, "content": "QUJDé"}], "attachments[0].content"),
    "content missing": ([{"filename": "a.pdf"}], "attachments[0].content"),
    "content a number": ([{**OK, "content": 12}], "attachments[0].content"),
    "content null": ([{**OK, "content": None}], "attachments[0].content"),
    # filename
    "an .exe": ([{**OK, "filename": "setup.exe"}], "attachments[0].filename"),
    "x.pdf.exe": ([{**OK, "filename": "x.pdf.exe"}], "attachments[0].filename"),
    "upper-case .EXE": ([{**OK, "filename": "X.EXE"}], "attachments[0].filename"),
    "x.exe. (Windows drops the dot)": ([{**OK, "filename": "x.exe."}], "attachments[0].filename"),
    "a .js": ([{**OK, "filename": "app.min.js"}], "attachments[0].filename"),
    "filename missing": ([{"content": "AAAA"}], "attachments[0].filename"),
    "filename empty": ([{**OK, "filename": ""}], "attachments[0].filename"),
    "filename 256 chars": ([{**OK, "filename": "a" * 256}], "attachments[0].filename"),
    "filename with CR/LF": ([{**OK, "filename": "a\r\nb.pdf"}], "attachments[0].filename"),
    "filename with /": ([{**OK, "filename": "../etc/passwd"}], "attachments[0].filename"),
    "filename with \\": ([{**OK, "filename": "..\\win.ini"}], "attachments[0].filename"),
    "filename with NUL-like control": (
        [{**OK, "filename": "a\x01.pdf"}],
        "attachments[0].filename",
    ),
    "filename with leading space": ([{**OK, "filename": " a.pdf"}], "attachments[0].filename"),
    "filename a number": ([{**OK, "filename": 7}], "attachments[0].filename"),
    # content_type
    "content_type without subtype": (
        [{**OK, "content_type": "pdf"}],
        "attachments[0].content_type",
    ),
    "content_type with parameters": (
        [{**OK, "content_type": "text/plain; charset=utf-8"}],
        "attachments[0].content_type",
    ),
    "content_type multipart": (
        [{**OK, "content_type": "multipart/mixed"}],
        "attachments[0].content_type",
    ),
    "content_type message": (
        [{**OK, "content_type": "message/rfc822"}],
        "attachments[0].content_type",
    ),
    "content_type with CR/LF": (
        [{**OK, "content_type": "text/plain\r\nBcc: x@y.z"}],
        "attachments[0].content_type",
    ),
    # content_id
    "content_id with <": ([{**OK, "content_id": "<logo>"}], "attachments[0].content_id"),
    "content_id with >": ([{**OK, "content_id": "logo>"}], "attachments[0].content_id"),
    "content_id with a space": ([{**OK, "content_id": "my logo"}], "attachments[0].content_id"),
    "content_id empty": ([{**OK, "content_id": ""}], "attachments[0].content_id"),
    "content_id 129 chars": ([{**OK, "content_id": "c" * 129}], "attachments[0].content_id"),
    "content_id non-ASCII": ([{**OK, "content_id": "lögo"}], "attachments[0].content_id"),
    "content_id twice": (
        [{**OK, "content_id": "logo"}, {**OK, "filename": "b.png", "content_id": "logo"}],
        "attachments[1].content_id",
    ),
    # the item and the list
    "an unknown field": ([{**OK, "disposition": "inline"}], "attachments[0].disposition"),
    "an item that is not an object": (["a.pdf"], "attachments[0]"),
    "21 attachments": ([{**OK, "filename": f"{n}.pdf"} for n in range(21)], "attachments"),
    "not a list": ({"filename": "a.pdf", "content": "AAAA"}, "attachments"),
    "the second one bad": ([OK, {**OK, "filename": "b.exe"}], "attachments[1].filename"),
}


@pytest.mark.parametrize(("attachments", "field"), BAD.values(), ids=BAD.keys())
def test_a_bad_attachment_is_refused_naming_the_field(
    alice_client, alice_provider, smtp_server, attachments, field
):
    refused(send(alice_client, attachments), field)

    assert Message.objects.count() == 0
    assert AttachmentContent.objects.count() == 0
    assert smtp_server.messages == []


def test_every_bad_field_of_every_attachment_is_named(alice_client, alice_provider):
    attachments = [{"filename": "a.exe", "content": "!"}, {"content_id": "<x>", "content": "AAAA"}]

    refused(
        send(alice_client, attachments),
        "attachments[0].filename",
        "attachments[0].content",
        "attachments[1].filename",
        "attachments[1].content_id",
    )


def test_ten_mib_and_one_byte_in_total_is_refused(alice_client, alice_provider, smtp_server):
    half = b"x" * (TEN_MIB // 2)
    attachments = [
        {"filename": "a.bin", "content": b64(half)},
        {"filename": "b.bin", "content": b64(half + b"x")},
    ]

    details = refused(send(alice_client, attachments), "attachments")

    assert str(TEN_MIB + 1) in details["attachments"][0]
    assert Message.objects.count() == 0
    assert smtp_server.messages == []


def test_exactly_ten_mib_in_total_is_accepted(alice_client, alice_provider, smtp_server):
    attachments = [{"filename": "a.bin", "content": b64(b"x" * TEN_MIB)}]

    assert send(alice_client, attachments).status_code == 200


def test_twenty_attachments_are_accepted(alice_client, alice_provider, smtp_server):
    attachments = [{"filename": f"{n}.txt", "content": b64(str(n).encode())} for n in range(20)]

    assert send(alice_client, attachments).status_code == 200


def test_the_block_list_is_configurable(alice_client, alice_provider, smtp_server, settings):
    settings.MAILPASS_BLOCKED_ATTACHMENT_EXTENSIONS = ["pdf"]

    refused(send(alice_client, [OK]), "attachments[0].filename")
    assert send(alice_client, [{**OK, "filename": "setup.exe"}]).status_code == 200


def test_the_total_limit_is_configurable(alice_client, alice_provider, settings):
    settings.MAILPASS_MAX_ATTACHMENT_BYTES = 3

    refused(send(alice_client, [{**OK, "content": b64(b"abcd")}]), "attachments")
    assert send(alice_client, [{**OK, "content": b64(b"abc")}]).status_code != 400


def test_a_body_over_the_limit_is_413(alice_client, alice_provider, settings, smtp_server):
    settings.MAILPASS_MAX_BODY_BYTES = 1000

    response = send(alice_client, [{**OK, "content": b64(b"x" * 1000)}])

    assert response.status_code == 413
    assert response.json()["error"]["code"] == "PAYLOAD_TOO_LARGE"
    assert Message.objects.count() == 0


def test_the_default_body_limit_is_20_mib():
    from django.conf import settings

    assert settings.MAILPASS_MAX_BODY_BYTES == 20 * 1024 * 1024


def test_a_batch_item_with_a_bad_attachment_fails_alone_naming_the_field(
    alice_client, alice_provider
):
    body = {
        "messages": [
            {"to": "a@example.com", "subject": "A", "text": "Hi", "attachments": [OK]},
            {
                "to": "b@example.com",
                "subject": "B",
                "text": "Hi",
                "attachments": [OK, {**OK, "filename": "x.pdf.exe"}],
            },
            {
                "to": "c@example.com",
                "subject": "C",
                "text": "Hi",
                "attachments": [{**OK, "content": "%%%"}],
            },
        ]
    }

    response = alice_client.post("/api/v1/mail/send-batch", body, format="json")

    assert response.status_code == 200
    data = response.json()["data"]
    assert (data["queued"], data["failed"]) == (1, 2)
    assert list(data["messages"][1]["error"]["details"]) == ["attachments[1].filename"]
    assert data["messages"][1]["error"]["message"].startswith("attachments[1].filename: ")
    assert list(data["messages"][2]["error"]["details"]) == ["attachments[0].content"]
    assert Message.objects.count() == 1
