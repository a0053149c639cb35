"""Attachments of queued mail: stored until the message is done, then purged (API.md s.12)."""

from datetime import timedelta

import pytest
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from mail.attachments import (
    PURGE_GRACE,
    AttachmentContentMissing,
    attachment_contents_load,
    attachment_contents_purge,
    attachment_contents_store,
    attachments_accept,
    attachments_parse,
)
from mail.models import AttachmentContent, Message, MessageStatus
from mailpass.errors import ValidationFailed
from tests.factories import MessageFactory, SmtpProviderFactory, api_key_for
from tests.mail.attachment_helpers import BINARY_FILE, PNG_FILE, TEXT_FILE, b64, files, structure

pytestmark = pytest.mark.django_db

INVOICE = {"filename": "invoice.pdf", "content": b64(BINARY_FILE)}
NOTES = {"filename": "notes.txt", "content": b64(TEXT_FILE)}
LOGO = {"filename": "logo.png", "content": b64(PNG_FILE), "content_id": "logo"}
HTML = '<p>Hi <a href="https://example.com/x">x</a><img src="cid:logo"></p>'


def later():
    """Past the purge's grace period for content stored now. Computed when asked: a module
    constant was fixed at collection time, and a test run later than a minute after it (a
    longer suite) found its content still within the grace period."""
    return timezone.now() + PURGE_GRACE + timedelta(minutes=1)


def send_batch(client, messages):
    response = client.post("/api/v1/mail/send-batch", {"messages": messages}, format="json")
    assert response.status_code == 200, response.json()
    return response.json()["data"]["messages"]


def drain() -> None:
    call_command("process_mail_queue")


def item(to: str, **fields):
    return {"to": to, "subject": "Your invoice", "text": "Hi", **fields}


def test_queued_attachments_are_sent_byte_identical(
    alice_client, alice_provider, smtp_server, no_kick
):
    answers = send_batch(
        alice_client,
        [
            item("a@example.com", attachments=[INVOICE, NOTES]),
            item("b@example.com", html=HTML, track_opens=True, attachments=[LOGO, INVOICE]),
        ],
    )

    drain()

    first = smtp_server.by_message_id(answers[0]["message_id"])[0].parsed
    assert structure(first) == ("multipart/mixed", ["text/plain", "application/pdf", "text/plain"])
    assert files(first)["invoice.pdf"].get_payload(decode=True) == BINARY_FILE
    assert files(first)["notes.txt"].get_payload(decode=True) == TEXT_FILE
    second = smtp_server.by_message_id(answers[1]["message_id"])[0].parsed
    assert structure(second) == (
        "multipart/mixed",
        [
            (
                "multipart/related",
                [("multipart/alternative", ["text/plain", "text/html"]), "image/png"],
            ),
            "application/pdf",
        ],
    )
    assert files(second)["logo.png"].get_payload(decode=True) == PNG_FILE
    assert files(second)["invoice.pdf"].get_payload(decode=True) == BINARY_FILE
    html = next(p for p in second.walk() if p.get_content_type() == "text/html").get_content()
    assert "/t/o/" in html and 'src="cid:logo"' in html


BODIES = {
    "text only": ({"text": "Hi"}, "text/plain"),
    "html only": ({"html": HTML}, "text/html"),
    "text and html": (
        {"text": "Hi", "html": HTML},
        ("multipart/alternative", ["text/plain", "text/html"]),
    ),
}


@pytest.mark.parametrize(("body", "tree"), BODIES.values(), ids=BODIES.keys())
@pytest.mark.parametrize("inline", [False, True], ids=["attachments", "inline and attachments"])
def test_queued_mail_has_the_structure_its_parts_require(
    alice_client, alice_provider, smtp_server, no_kick, body, tree, inline
):
    attachments = [LOGO, INVOICE] if inline else [INVOICE]
    message = {"to": "a@example.com", "subject": "Hi", "attachments": attachments, **body}
    (answer,) = send_batch(alice_client, [message])

    drain()

    mail = smtp_server.by_message_id(answer["message_id"])[0].parsed
    if inline and "html" in body:
        assert structure(mail) == (
            "multipart/mixed",
            [("multipart/related", [tree, "image/png"]), "application/pdf"],
        )
    elif inline:
        assert structure(mail) == ("multipart/mixed", [tree, "image/png", "application/pdf"])
    else:
        assert structure(mail) == ("multipart/mixed", [tree, "application/pdf"])
    assert files(mail)["invoice.pdf"].get_payload(decode=True) == BINARY_FILE
    if inline:
        assert files(mail)["logo.png"].get_payload(decode=True) == PNG_FILE


def test_each_distinct_file_is_stored_once_and_only_metadata_on_the_message(
    alice_client, alice_provider, no_kick
):
    answers = send_batch(
        alice_client,
        [item(f"user{n}@example.com", attachments=[INVOICE, NOTES]) for n in range(50)],
    )

    assert AttachmentContent.objects.count() == 2
    message = Message.objects.get(message_id=answers[0]["message_id"])
    assert [a["filename"] for a in message.attachments] == ["invoice.pdf", "notes.txt"]
    assert "content" not in message.attachments[0]
    status = alice_client.get(f"/api/v1/mail/status/{answers[0]['message_id']}").json()["data"]
    assert status["message"]["attachments"][0] == {
        "filename": "invoice.pdf",
        "content_type": "application/pdf",
        "size": len(BINARY_FILE),
        "content_id": None,
    }


def test_content_is_purged_once_no_waiting_message_needs_it(
    alice_client, alice_provider, smtp_server, no_kick
):
    send_batch(alice_client, [item("a@example.com", attachments=[INVOICE])])
    assert attachment_contents_purge(now=later()) == 0  # still queued: kept

    drain()

    assert Message.objects.get().status == MessageStatus.SENT
    assert attachment_contents_purge() == 0  # just stored: within the grace period
    assert attachment_contents_purge(now=later()) == 1
    assert AttachmentContent.objects.count() == 0
    assert Message.objects.get().attachments[0]["size"] == len(BINARY_FILE)


@pytest.mark.parametrize(
    "status",
    [
        MessageStatus.FAILED,
        MessageStatus.CANCELED,
        MessageStatus.SUPPRESSED,
        MessageStatus.DELIVERED,
        MessageStatus.BOUNCED,
    ],
)
def test_content_of_a_final_message_is_purged(alice_client, alice_provider, no_kick, status):
    send_batch(alice_client, [item("a@example.com", attachments=[INVOICE])])
    Message.objects.update(status=status)

    assert attachment_contents_purge(now=later()) == 1


@pytest.mark.parametrize(
    "status", [MessageStatus.QUEUED, MessageStatus.SCHEDULED, MessageStatus.SENDING]
)
def test_content_a_waiting_message_needs_is_kept(alice_client, alice_provider, no_kick, status):
    send_batch(
        alice_client,
        [
            item("a@example.com", attachments=[INVOICE]),
            item("b@example.com", attachments=[INVOICE]),
        ],
    )
    first, second = Message.objects.order_by("pk")
    Message.objects.filter(pk=first.pk).update(status=MessageStatus.SENT)
    Message.objects.filter(pk=second.pk).update(status=status)

    assert attachment_contents_purge(now=later()) == 0
    assert AttachmentContent.objects.count() == 1


def test_the_same_file_of_another_account_is_neither_shared_nor_kept_for_it(
    alice, bob, alice_client, alice_provider, no_kick
):
    SmtpProviderFactory(account=bob)
    bob_client = alice_client.__class__()
    bob_client.credentials(HTTP_AUTHORIZATION=f"Bearer {api_key_for(bob)}")
    send_batch(alice_client, [item("a@example.com", attachments=[INVOICE])])
    send_batch(bob_client, [item("b@example.com", attachments=[INVOICE])])

    assert AttachmentContent.objects.count() == 2
    Message.objects.filter(account=alice).update(status=MessageStatus.SENT)
    assert attachment_contents_purge(now=later()) == 1
    assert AttachmentContent.objects.get().account == bob

    # Alice's message cannot read bob's copy of the same file.
    alice_message = Message.objects.get(account=alice)
    with pytest.raises(AttachmentContentMissing):
        attachment_contents_load(message=alice_message)


def test_a_queued_message_whose_content_is_gone_fails_with_a_clear_error(
    alice_client, alice_provider, smtp_server, no_kick
):
    (answer,) = send_batch(alice_client, [item("a@example.com", attachments=[INVOICE])])
    AttachmentContent.objects.all().delete()

    drain()

    message = Message.objects.get(message_id=answer["message_id"])
    assert message.status == MessageStatus.FAILED
    assert "attachment content is no longer stored" in message.error_message
    assert smtp_server.messages == []


def test_test_keys_store_no_content(alice, alice_provider, api_client, no_kick):
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {api_key_for(alice, is_test=True)}")

    send_batch(api_client, [item("a@example.com", attachments=[INVOICE])])

    assert AttachmentContent.objects.count() == 0


def test_the_relay_function_takes_bytes_with_the_api_rules(alice):
    accepted = attachments_accept(
        account_id=alice.pk,
        items=[
            {"filename": "scan.pdf", "content": BINARY_FILE},
            {"filename": "logo.png", "content": PNG_FILE, "content_id": "l"},
        ],
    )

    assert [a.content_type for a in accepted] == ["application/pdf", "image/png"]
    assert AttachmentContent.objects.filter(account=alice).count() == 2
    message = MessageFactory(account=alice, attachments=[a.metadata() for a in accepted])
    assert attachment_contents_load(message=message)[accepted[0].sha256] == BINARY_FILE


def test_the_relay_function_names_the_field_it_refuses(alice):
    with pytest.raises(ValidationFailed) as refused:
        attachments_accept(
            account_id=alice.pk,
            items=[
                {"filename": "ok.pdf", "content": b""},
                {"filename": "run.exe", "content": b"MZ"},
            ],
        )

    assert refused.value.details == {
        "attachments[1].filename": ["Files ending in .exe are not accepted."]
    }
    assert AttachmentContent.objects.count() == 0


def test_the_periodic_drain_purges_content_of_finished_messages(
    alice_client, alice_provider, smtp_server, no_kick
):
    from mail.tasks import queue_drain_task

    send_batch(alice_client, [item("a@example.com", attachments=[INVOICE])])
    drain()
    AttachmentContent.objects.update(stored_at=timezone.now() - PURGE_GRACE - timedelta(seconds=1))

    result = queue_drain_task()

    assert result["attachments_purged"] == 1
    assert AttachmentContent.objects.count() == 0


def test_a_file_stored_again_outlives_a_purge_even_before_its_message_commits(alice):
    (invoice,) = attachments_parse([INVOICE])
    attachment_contents_store(account_id=alice.pk, attachments=[invoice])
    AttachmentContent.objects.update(stored_at=timezone.now() - PURGE_GRACE * 2)

    # A new batch with the same file stores it again just before its messages commit.
    attachment_contents_store(account_id=alice.pk, attachments=[invoice])

    assert attachment_contents_purge() == 0
    assert AttachmentContent.objects.count() == 1


def test_a_drain_loads_the_attachments_of_a_chunk_in_one_query_and_fails_only_a_missing_one(
    alice_client, alice_provider, smtp_server, no_kick, monkeypatch
):
    answers = send_batch(
        alice_client,
        [item(f"user{n}@example.com", attachments=[INVOICE, NOTES]) for n in range(5)]
        + [item("gone@example.com", attachments=[LOGO])],
    )
    logo = Message.objects.get(message_id=answers[5]["message_id"]).attachments[0]["sha256"]
    AttachmentContent.objects.filter(sha256=logo).delete()

    with CaptureQueriesContext(connection) as queries:
        drain()

    loads = [q["sql"] for q in queries.captured_queries if "mail_attachmentcontent" in q["sql"]]
    assert len([sql for sql in loads if sql.lstrip().upper().startswith("SELECT")]) == 1
    statuses = {m.to_email: m.status for m in Message.objects.all()}
    assert statuses.pop("gone@example.com") == MessageStatus.FAILED
    assert set(statuses.values()) == {MessageStatus.SENT}
    assert len(smtp_server.messages) == 5
