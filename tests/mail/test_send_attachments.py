"""Attachments and inline images on POST /send, as a real SMTP server receives them (s.12)."""

import pytest

from mail.models import AttachmentContent, Message
from tests.mail.attachment_helpers import (
    BINARY_FILE,
    CSV_FILE,
    PNG_FILE,
    TEXT_FILE,
    b64,
    files,
    structure,
)

pytestmark = pytest.mark.django_db

ATTACHMENTS = [
    {"filename": "invoice.pdf", "content": b64(BINARY_FILE)},
    {"filename": "notes.txt", "content": b64(TEXT_FILE)},
    {"filename": "Übersicht März.csv", "content": b64(CSV_FILE), "content_type": "text/csv"},
    {"filename": "empty.bin", "content": ""},
]
ORIGINALS = {
    "invoice.pdf": BINARY_FILE,
    "notes.txt": TEXT_FILE,
    "Übersicht März.csv": CSV_FILE,
    "empty.bin": b"",
}
LOGO = {"filename": "logo.png", "content": b64(PNG_FILE), "content_id": "logo@yourdomain"}
HTML = (
    '<p>Hi <a href="https://example.com/order">your order</a> <img src="cid:logo@yourdomain"></p>'
)
TEXT = "Hi, your order"


def send(client, **fields):
    body = {"to": "user@example.com", "subject": "Your invoice", **fields}
    return client.post("/api/v1/mail/send", body, format="json")


def received_files_are_identical(mail, expected: dict[str, bytes]) -> None:
    got = files(mail)
    assert set(got) == set(expected)
    for filename, data in expected.items():
        assert got[filename].get_payload(decode=True) == data, filename


BODIES = {
    "text only": ({"text": TEXT}, "text/plain"),
    "html only": ({"html": HTML}, "text/html"),
    "text and html": (
        {"text": TEXT, "html": HTML},
        ("multipart/alternative", ["text/plain", "text/html"]),
    ),
}


@pytest.mark.parametrize(("body", "tree"), BODIES.values(), ids=BODIES.keys())
def test_attachments_arrive_byte_identical_after_the_body(
    alice_client, alice_provider, smtp_server, body, tree
):
    response = send(alice_client, attachments=ATTACHMENTS, **body)

    assert response.status_code == 200, response.json()
    mail = smtp_server.messages[0].parsed
    assert structure(mail) == (
        "multipart/mixed",
        [tree, "application/pdf", "text/plain", "text/csv", "application/octet-stream"],
    )
    received_files_are_identical(mail, ORIGINALS)
    for part in files(mail).values():
        assert part.get_content_disposition() == "attachment"
        assert part["Content-Transfer-Encoding"] == "base64"


def test_an_inline_image_sits_with_the_html_in_a_related_part(
    alice_client, alice_provider, smtp_server
):
    response = send(alice_client, text=TEXT, html=HTML, attachments=[LOGO])

    assert response.status_code == 200, response.json()
    mail = smtp_server.messages[0].parsed
    assert structure(mail) == (
        "multipart/related",
        [("multipart/alternative", ["text/plain", "text/html"]), "image/png"],
    )
    logo = files(mail)["logo.png"]
    assert logo["Content-ID"] == "<logo@yourdomain>"
    assert logo.get_content_disposition() == "inline"
    assert logo.get_payload(decode=True) == PNG_FILE


def test_inline_images_and_attachments_together(alice_client, alice_provider, smtp_server):
    response = send(alice_client, html=HTML, attachments=[LOGO, *ATTACHMENTS])

    assert response.status_code == 200, response.json()
    mail = smtp_server.messages[0].parsed
    assert structure(mail) == (
        "multipart/mixed",
        [
            ("multipart/related", ["text/html", "image/png"]),
            "application/pdf",
            "text/plain",
            "text/csv",
            "application/octet-stream",
        ],
    )
    received_files_are_identical(mail, {**ORIGINALS, "logo.png": PNG_FILE})


def test_an_inline_part_without_html_is_kept_beside_the_text(
    alice_client, alice_provider, smtp_server
):
    response = send(alice_client, text=TEXT, attachments=[LOGO])

    assert response.status_code == 200, response.json()
    mail = smtp_server.messages[0].parsed
    assert structure(mail) == ("multipart/mixed", ["text/plain", "image/png"])
    assert files(mail)["logo.png"]["Content-ID"] == "<logo@yourdomain>"


def test_tracking_applies_to_the_html_and_leaves_cid_references_alone(
    alice_client, alice_provider, smtp_server
):
    response = send(
        alice_client,
        text=TEXT,
        html=HTML,
        attachments=[LOGO, ATTACHMENTS[0]],
        track_opens=True,
        track_clicks=True,
    )

    assert response.status_code == 200, response.json()
    mail = smtp_server.messages[0].parsed
    html = next(p for p in mail.walk() if p.get_content_type() == "text/html").get_content()
    assert 'src="cid:logo@yourdomain"' in html
    assert "https://example.com/order" not in html
    assert "/t/c/" in html  # the link, rewritten to a click URL
    assert "/t/o/" in html  # the open pixel
    received_files_are_identical(mail, {"logo.png": PNG_FILE, "invoice.pdf": BINARY_FILE})


def test_content_types_are_guessed_from_the_filename_or_taken_as_given(
    alice_client, alice_provider, smtp_server
):
    attachments = [
        {"filename": "report.pdf", "content": "JVBERg=="},
        {"filename": "photo.JPG", "content": "/9j/"},
        {"filename": "archive.tar.gz", "content": "H4sI"},
        {"filename": "no-extension", "content": "AAAA"},
        {"filename": "data.weird-ext", "content": "AAAA"},
        {"filename": "mail.eml", "content": "AAAA"},
        {"filename": "given.bin", "content": "AAAA", "content_type": "Image/PNG"},
    ]

    response = send(alice_client, text=TEXT, attachments=attachments)

    assert response.status_code == 200, response.json()
    types = {
        name: part.get_content_type()
        for name, part in files(smtp_server.messages[0].parsed).items()
    }
    assert types == {
        "report.pdf": "application/pdf",
        "photo.JPG": "image/jpeg",
        "archive.tar.gz": "application/gzip",
        "no-extension": "application/octet-stream",
        "data.weird-ext": "application/octet-stream",
        "mail.eml": "application/octet-stream",
        "given.bin": "image/png",
    }


@pytest.mark.parametrize(
    "filename",
    [
        "Rechnung für März.pdf",
        "請求書.pdf",
        "é" * 255,
        "a;b,c \"quoted\" 'x'.txt",
        "x" * 255,
        "%41.txt",
    ],
)
def test_filenames_arrive_as_given_on_short_lines(
    alice_client, alice_provider, smtp_server, filename
):
    response = send(
        alice_client, text=TEXT, attachments=[{"filename": filename, "content": "AAAA"}]
    )

    assert response.status_code == 200, response.json()
    received = smtp_server.messages[0]
    assert max(len(line) for line in received.raw.split(b"\r\n")) <= 998
    assert received.raw.isascii()
    assert list(files(received.parsed)) == [filename]


def test_status_shows_attachment_metadata_and_the_content_is_not_stored(
    alice_client, alice_provider, smtp_server
):
    data = send(alice_client, html=HTML, attachments=[ATTACHMENTS[0], LOGO]).json()["data"]

    status = alice_client.get(f"/api/v1/mail/status/{data['message_id']}").json()["data"]
    assert status["message"]["attachments"] == [
        {
            "filename": "invoice.pdf",
            "content_type": "application/pdf",
            "size": len(BINARY_FILE),
            "content_id": None,
        },
        {
            "filename": "logo.png",
            "content_type": "image/png",
            "size": len(PNG_FILE),
            "content_id": "logo@yourdomain",
        },
    ]
    # A single send builds the email from the request: no content is ever written.
    assert AttachmentContent.objects.count() == 0
    message = Message.objects.get(message_id=data["message_id"])
    assert all(
        set(a) == {"filename", "content_type", "size", "content_id", "sha256"}
        for a in message.attachments
    )


def test_a_test_key_validates_attachments_and_sends_nothing(
    alice, alice_provider, smtp_server, api_client
):
    from tests.factories import api_key_for

    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {api_key_for(alice, is_test=True)}")

    response = send(api_client, text=TEXT, attachments=ATTACHMENTS)

    assert response.status_code == 200
    assert smtp_server.messages == []
    assert AttachmentContent.objects.count() == 0
    message = Message.objects.get(message_id=response.json()["data"]["message_id"])
    assert [a["filename"] for a in message.attachments] == list(ORIGINALS)


def test_a_base64_content_with_line_breaks_is_accepted(alice_client, alice_provider, smtp_server):
    wrapped = "\r\n".join(b64(BINARY_FILE)[i : i + 76] for i in range(0, len(b64(BINARY_FILE)), 76))

    response = send(
        alice_client, text=TEXT, attachments=[{"filename": "a.bin", "content": wrapped + "\n"}]
    )

    assert response.status_code == 200, response.json()
    assert files(smtp_server.messages[0].parsed)["a.bin"].get_payload(decode=True) == BINARY_FILE


def test_the_largest_allowed_attachments_fit_the_default_body_limit(
    alice_client, alice_provider, smtp_server, settings
):
    settings.MAILPASS_MAX_ATTACHMENT_BYTES = 10 * 1024 * 1024  # the defaults
    settings.MAILPASS_MAX_BODY_BYTES = 20 * 1024 * 1024
    big = bytes(range(256)) * (10 * 1024 * 1024 // 256 - 4)
    attachments = [
        {"filename": "big.bin", "content": b64(big)},
        {"filename": "rest.bin", "content": b64(b"x" * (10 * 1024 * 1024 - len(big)))},
    ]

    response = send(alice_client, text=TEXT, attachments=attachments)

    assert response.status_code == 200, response.json()
    received_files_are_identical(
        smtp_server.messages[0].parsed,
        {"big.bin": big, "rest.bin": b"x" * (10 * 1024 * 1024 - len(big))},
    )
