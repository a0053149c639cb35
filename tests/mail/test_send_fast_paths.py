"""The send path's shortcuts give exactly what the general code they skip would give."""

import smtplib
import string

import pytest
from django.core.mail.message import sanitize_address
from django.db import connection
from hypothesis import given, settings
from hypothesis import strategies as st
from rest_framework.exceptions import ValidationError

from mail.delivery import envelope_address, smtp_path
from mail.models import Message
from mail.serializers import (
    MessageInputSerializer,
    SendOutputSerializer,
    message_input_validate,
    send_output,
)
from mail.services import message_insert, message_prepare
from mailpass.api import validation_error_body
from tests.factories import SmtpProviderFactory

ATEXT = string.ascii_letters + string.digits + "!#$%&'*+/=?^_`{|}~-"
LABEL = string.ascii_letters + string.digits + "-"

plain_addresses = st.builds(
    lambda local, labels: f"{'.'.join(local)}@{'.'.join(labels)}",
    st.lists(st.text(ATEXT, min_size=1, max_size=8), min_size=1, max_size=3),
    st.lists(st.text(LABEL, min_size=1, max_size=63), min_size=1, max_size=3),
)


def _outcome(function, address: str) -> str | type:
    """What ``function`` returns, or the type of what it raises."""
    try:
        return function(address, "utf-8")
    except Exception as exc:
        return type(exc)


@given(plain_addresses)
@settings(max_examples=300, deadline=None)
def test_a_plain_address_is_what_sanitize_address_makes_of_it(address):
    assert envelope_address(address, "utf-8") == sanitize_address(address, "utf-8")


@given(plain_addresses)
@settings(max_examples=300, deadline=None)
def test_a_plain_address_is_quoted_as_smtplib_quotes_it(address):
    assert smtp_path(address) == smtplib.quoteaddr(address)


@given(st.text(string.printable + 'äé<>"()', max_size=40))
@settings(max_examples=300, deadline=None)
def test_any_other_text_is_quoted_by_smtplib(text):
    assert smtp_path(text) == smtplib.quoteaddr(text)


@given(st.text(string.printable + 'äé\u00a0@<>"()[],;:\\', max_size=40))
@settings(max_examples=500, deadline=None)
def test_any_other_text_gets_what_sanitize_address_gives(text):
    assert _outcome(envelope_address, text) == _outcome(sanitize_address, text)


@pytest.mark.parametrize(
    "address",
    [
        "a..b@example.com",  # quoted by sanitize_address
        ".a@example.com",
        "a@" + "x" * 64 + ".com",  # a label too long for IDNA: it raises
        "ü@example.com",
        "user@exämple.com",  # punycode
        "Name <user@example.com>",
    ],
)
def test_addresses_needing_work_get_what_sanitize_address_gives(address):
    assert _outcome(envelope_address, address) == _outcome(sanitize_address, address)


@pytest.mark.django_db
def test_the_hand_written_insert_stores_what_save_stores(alice):
    provider = SmtpProviderFactory(account=alice)
    data = {
        "to": "user@example.com",
        "subject": "Hello",
        "html": "<p>Hi</p>",
        "text": "Hi",
        "cc": ["cc@example.com"],
        "bcc": ["bcc@example.com"],
        "reply_to": "reply@example.com",
        "tags": ["a", "b"],
        "metadata": {"order": "1", "n": 2, "ok": True, "none": None},
        "headers": {"X-Custom": "1"},
    }
    by_hand = message_prepare(account=alice, provider=provider, data=data, is_test=False)
    by_orm = message_prepare(account=alice, provider=provider, data=data, is_test=False)

    message_insert(by_hand)
    by_orm.save(force_insert=True)

    assert by_hand.pk is not None and not by_hand._state.adding
    stored_by_hand = Message.objects.get(pk=by_hand.pk)
    stored_by_orm = Message.objects.get(pk=by_orm.pk)
    differing = {"id", "message_id", "created_at", "updated_at"}
    for field in Message._meta.concrete_fields:
        if field.name in differing:
            continue
        assert getattr(stored_by_hand, field.attname) == getattr(stored_by_orm, field.attname), (
            field.name
        )
        # The instance holds what the row holds, as after save().
        assert getattr(by_hand, field.attname) == getattr(stored_by_hand, field.attname), field.name
    assert stored_by_hand.created_at.tzinfo is not None
    if connection.vendor == "postgresql":
        assert stored_by_hand.provider_message_id == ""  # a database default


BODIES = [
    {"to": "user@example.com", "subject": "Hi", "text": "x"},
    {"to": "user@example.com", "subject": "Hi"},
    {"to": "not an address", "subject": 1, "html": None, "extra": True},
    {"to": "user@example.com", "subject": "Hi", "text": "x", "cc": ["a@example.com", 5]},
    {"to": "user@example.com", "template": "x", "subject": "Hi", "variables": []},
    {"to": "user@example.com", "subject": "Hi", "text": "x", "metadata": {"a": [1]}},
    {"to": "user@example.com", "subject": "Hi", "text": "x", "headers": {"From": "x"}},
    {"to": "user@example.com", "subject": "Hi", "text": "x", "send_at": "tomorrow"},
    {"to": "user@example.com", "subject": "a\r\nBcc: x@example.com", "text": "x"},
    [],
    "text",
    None,
]


@pytest.mark.parametrize("body", BODIES)
def test_one_serializer_per_thread_answers_as_a_new_one_each_time(body):
    fresh = MessageInputSerializer(data=body)
    valid = fresh.is_valid()
    for _ in range(2):  # the second time on the thread's serializer, used before
        if valid:
            assert message_input_validate(body) == fresh.validated_data
        else:
            with pytest.raises(ValidationError) as raised:
                message_input_validate(body)
            # The answer's envelope (a bare list, as for a null body, is non_field_errors).
            assert validation_error_body(raised.value.detail) == validation_error_body(fresh.errors)


@pytest.mark.django_db
def test_the_send_answer_is_the_serializer_s(alice):
    provider = SmtpProviderFactory(account=alice)
    message = message_prepare(
        account=alice,
        provider=provider,
        data={"to": "a@example.com", "subject": "s"},
        is_test=False,
    )
    message.suppressed = ["b@example.com"]
    assert send_output(message) == SendOutputSerializer(message).data
    assert send_output(message) == SendOutputSerializer(message).data


@pytest.mark.django_db
def test_the_bytes_sent_are_django_s_but_for_the_boundaries(alice):
    """Multipart (text, html, an inline part, an attachment): the same bytes as Django's
    ``as_bytes`` once the random boundaries are made equal, and none occurs in a part."""
    import base64
    import re

    from mail.attachments import attachments_parse
    from mail.composer import email_build
    from mail.delivery import email_bytes

    provider = SmtpProviderFactory(account=alice)
    data = {
        "to": "user@example.com",
        "subject": "Hello",
        "html": '<p>Hi <img src="cid:logo"></p>',
        "text": "Hi",
        "attachments": attachments_parse(
            [
                {"filename": "a.pdf", "content": base64.b64encode(b"%PDF" * 100).decode()},
                {"filename": "logo.png", "content": "iVBORw0KGgo=", "content_id": "logo"},
            ]
        ),
    }
    message = message_prepare(account=alice, provider=provider, data=data, is_test=False)
    message.pk = 1
    contents = {a.sha256: a.content for a in data["attachments"]}
    # One build for both: its tracking pixel's signed URL carries the second it was made in.
    built = email_build(message, contents=contents)
    ours = email_bytes(built)
    django = built.message().as_bytes(linesep="\r\n")

    pattern = rb'boundary="(=+\d+==)"'
    our_boundaries, their_boundaries = re.findall(pattern, ours), re.findall(pattern, django)
    assert len(our_boundaries) == len(their_boundaries) == 3
    for boundary in our_boundaries:
        # Only where it belongs: in its Content-Type and as delimiter lines.
        lines = [line for line in ours.split(b"\r\n") if boundary in line]
        assert all(line.strip(b"-") == boundary or b"boundary=" in line for line in lines)
    for mine, theirs in zip(our_boundaries, their_boundaries, strict=True):
        ours = ours.replace(mine, theirs)
    # The Date header is made per call: compare without it.
    date = re.compile(rb"\r\nDate: [^\r]*")
    assert date.sub(b"", ours) == date.sub(b"", django)


@pytest.mark.django_db
def test_the_status_lookup_answers_as_the_orm_and_a_new_serializer_do(alice, bob):
    """Hand-written statements and the thread's serializer (PostgreSQL), against the ORM's
    queries and a serializer made for the request: the same answer, to the byte."""
    from django.utils import timezone

    from mail.models import EventType, MessageEvent, QueueItem
    from mail.selectors import (
        message_events_list,
        message_get_for_account,
        message_status_get,
    )
    from mail.status_serializers import StatusOutputSerializer, status_output
    from mailpass.errors import NotFound
    from tests.factories import MessageFactory

    queued = MessageFactory(
        account=alice,
        cc=["cc@example.com"],
        tags=["a"],
        metadata={"k": 1, "ok": None},
        attachments=[
            {"filename": "a.pdf", "content_type": "application/pdf", "size": 3, "content_id": None}
        ],
        template_name="welcome",
        suppressed=["gone@example.com"],
        error_message="",
        send_at=timezone.now(),
        status="queued",
    )
    QueueItem.objects.create(
        message=queued, account=alice, next_attempt_at=timezone.now(), status="queued"
    )
    plain = MessageFactory(account=alice, error_message="550 no", status="failed")
    for message in (queued, plain):
        MessageEvent.objects.create(message=message, event_type=EventType.SENT)
        MessageEvent.objects.create(
            message=message,
            event_type=EventType.CLICK,
            ip_address="10.0.0.1",
            user_agent="UA",
            url="https://example.com/",
            recipient="user@example.com",
        )

    for message in (queued, plain):
        for form in (message.message_id, message.message_id.strip("<>")):
            by_orm = message_get_for_account(account=alice, message_id=form)
            expected = StatusOutputSerializer(
                {"message": by_orm, "events": message_events_list(message=by_orm)}
            ).data
            got = status_output(message_status_get(account=alice, message_id=form))
            assert got == expected
    with pytest.raises(NotFound):
        message_status_get(account=bob, message_id=queued.message_id)  # another account's
    with pytest.raises(NotFound):
        message_status_get(account=alice, message_id="<a\x00b@x>")


HEADER_NAMES = ["To", "Cc", "Reply-To", "Message-ID", "Date", "Content-Type", "X-Order-Reference"]


@given(
    st.sampled_from(HEADER_NAMES),
    st.text(string.printable + "\t  é\x0b\x00", max_size=90),
    st.sampled_from(["\r\n", "\n"]),
)
@settings(max_examples=2000, deadline=None)
def test_headers_are_folded_as_compat32_folds_them(name, value, linesep):
    from email.policy import compat32

    from mail.delivery import COMPAT32

    def folded(policy, sanitize: bool) -> str | type:
        try:
            return policy.clone(linesep=linesep)._fold(name, value, sanitize)
        except Exception as exc:  # an embedded header: both refuse it
            return type(exc)

    for sanitize in (False, True):
        assert folded(COMPAT32, sanitize) == folded(compat32, sanitize)


@pytest.mark.django_db
@pytest.mark.parametrize("scheduled", [False, True])
def test_one_message_queued_in_one_statement_is_what_the_general_enqueue_stores(
    alice, scheduled, monkeypatch, django_capture_on_commit_callbacks
):
    """``queue_enqueue_one`` (PostgreSQL: message, queue item and event in one statement)
    stores what ``queue_enqueue`` stores for the same message."""
    from datetime import timedelta

    from django.test.utils import CaptureQueriesContext
    from django.utils import timezone

    from mail.models import MessageEvent, QueueItem
    from mail.queue import enqueue

    if connection.vendor != "postgresql":
        pytest.skip("one statement on PostgreSQL; elsewhere the general enqueue runs")
    kicks = []
    monkeypatch.setattr(enqueue, "queue_drain_kick", lambda **kwargs: kicks.append(kwargs))
    provider = SmtpProviderFactory(account=alice)
    data = {"to": "user@example.com", "subject": "Hello", "text": "Hi", "tags": ["a"]}
    if scheduled:
        data["send_at"] = timezone.now() + timedelta(hours=1)

    def prepared() -> Message:
        return message_prepare(
            account=alice, provider=provider, data=data, is_test=False, status="queued"
        )

    one, general = prepared(), prepared()
    with django_capture_on_commit_callbacks(execute=True):
        with CaptureQueriesContext(connection) as queries:
            item_one = enqueue.queue_enqueue_one(message=one, provider=provider)
        assert len(queries.captured_queries) == 1
        (item_general,) = enqueue.queue_enqueue(messages=[general], provider=provider)
    assert kicks == ([] if scheduled else [{"limit": 1}, {"limit": 1}])

    differing = {"id", "message_id", "created_at", "updated_at", "limit_counted_at"}
    stored_one, stored_general = Message.objects.get(pk=one.pk), Message.objects.get(pk=general.pk)
    for field in Message._meta.concrete_fields:
        if field.name not in differing:
            assert getattr(stored_one, field.attname) == getattr(stored_general, field.attname)
            assert getattr(one, field.attname) == getattr(stored_one, field.attname), field.name
    item_fields = ("status", "attempts", "provider_id", "account_id", "locked_by", "last_error")
    rows = {
        row["message_id"]: row
        for row in QueueItem.objects.values("id", "message_id", "next_attempt_at", *item_fields)
    }
    assert rows[one.pk]["id"] == item_one.pk
    assert rows[general.pk]["id"] == item_general.pk
    assert {f: rows[one.pk][f] for f in item_fields} == {
        f: rows[general.pk][f] for f in item_fields
    }
    if scheduled:
        assert rows[one.pk]["next_attempt_at"] == data["send_at"]
    events = {
        m: list(MessageEvent.objects.filter(message_id=m).values_list("event_type", "detail"))
        for m in (one.pk, general.pk)
    }
    assert events[one.pk] == events[general.pk] == [("scheduled" if scheduled else "queued", "")]


SURROGATE_TEXTS = st.text(
    st.one_of(st.characters(), st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF)),
    max_size=20,
)


@given(SURROGATE_TEXTS)
@settings(max_examples=300, deadline=None)
def test_the_surrogate_check_answers_as_drf_s(text):
    from rest_framework.validators import ProhibitSurrogateCharactersValidator

    from mail.serializers import SurrogateCharactersValidator

    def outcome(validator):
        try:
            validator(text)
        except Exception as exc:
            return type(exc).__name__, str(getattr(exc, "detail", exc))
        return None

    assert outcome(SurrogateCharactersValidator()) == outcome(
        ProhibitSurrogateCharactersValidator()
    )
