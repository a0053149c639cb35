"""The message log in the admin: read-only detail with events, filters, search, status counts."""

import datetime
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from django.db import connection
from django.utils import timezone

from mail.models import EventType, Message, MessageEvent, MessageStatus
from tests.factories import MessageFactory, SmtpProviderFactory

CHANGELIST = "/admin/mail/message/"


def change_url(message: Message) -> str:
    return f"/admin/mail/message/{message.pk}/change/"


def listed(response) -> set[str]:
    """Message ids in the result list."""
    return set(re.findall(r"&lt;[^&]+@mailpass\.im&gt;", response.content.decode()))


def shown(message: Message) -> str:
    return message.message_id.replace("<", "&lt;").replace(">", "&gt;")


def counts(response) -> dict[str, int]:
    return {item["status"]: item["count"] for item in response.context["status_counts"]}


@pytest.fixture
def log(alice, bob):
    """A small log over two accounts and providers."""
    smtp = SmtpProviderFactory(account=alice, name="Main relay")
    ses = SmtpProviderFactory(account=bob, name="SES", is_default=True)
    messages = {
        "sent": MessageFactory(
            account=alice, provider=smtp, to_email="ann@example.com", tags=["order", "eu"]
        ),
        "failed": MessageFactory(
            account=alice,
            provider=smtp,
            to_email="ben@example.com",
            status=MessageStatus.FAILED,
            error_message="550 5.1.1 No such user",
            tags=["order"],
        ),
        "queued": MessageFactory(
            account=bob,
            provider=ses,
            to_email="cy@example.org",
            status=MessageStatus.QUEUED,
            tags=["welcome"],
        ),
        "old": MessageFactory(account=bob, provider=ses, to_email="dee@example.org", tags=[]),
    }
    Message.objects.filter(pk=messages["old"].pk).update(
        created_at=timezone.now() - datetime.timedelta(days=400)
    )
    return {"smtp": smtp, "ses": ses, **messages}


@pytest.mark.django_db
def test_the_list_shows_counts_per_status(admin_client, log):
    response = admin_client.get(CHANGELIST)
    assert response.status_code == 200
    assert counts(response) == {
        "scheduled": 0,
        "queued": 1,
        "sending": 0,
        "sent": 2,
        "delivered": 0,
        "bounced": 0,
        "failed": 1,
        "suppressed": 0,
        "canceled": 0,
    }
    html = response.content.decode()
    assert 'class="object-tools mailpass-status-counts"' in html
    assert re.search(
        r'data-status="failed">\s*Failed: <strong class="status-count">1</strong>', html
    )


@pytest.mark.django_db
def test_the_counts_follow_the_filters(admin_client, log):
    response = admin_client.get(CHANGELIST, {"provider__id__exact": log["smtp"].pk})
    assert counts(response) == {status: 0 for status in MessageStatus.values} | {
        "sent": 1,
        "failed": 1,
    }


@pytest.mark.django_db
def test_the_list_costs_a_fixed_number_of_queries(admin_client, log, django_assert_max_num_queries):
    MessageFactory.create_batch(30, account=log["sent"].account, provider=log["smtp"])
    admin_client.get(CHANGELIST)
    with django_assert_max_num_queries(12):
        assert admin_client.get(CHANGELIST).status_code == 200


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"status__exact": "failed"}, {"failed"}),
        ({"status__exact": "queued"}, {"queued"}),
        ({"provider__id__exact": "SES"}, {"queued", "old"}),
        ({"tag": "order"}, {"sent", "failed"}),
        ({"tag": "welcome"}, {"queued"}),
        ({"tag": "nope"}, set()),
        ({"created_at__gte": "YESTERDAY"}, {"sent", "failed", "queued"}),
    ],
)
def test_it_filters_by_status_provider_tag_and_date(admin_client, log, params, expected):
    params = dict(params)
    if params.get("provider__id__exact") == "SES":
        params["provider__id__exact"] = log["ses"].pk
    if params.get("created_at__gte") == "YESTERDAY":
        # An aware moment, as the admin's own date filter links carry.
        params["created_at__gte"] = (timezone.now() - datetime.timedelta(days=1)).isoformat()
    response = admin_client.get(CHANGELIST, params)
    assert response.status_code == 200
    assert listed(response) == {shown(log[name]) for name in expected}


@pytest.mark.django_db
def test_the_tag_filter_offers_the_distinct_tags(admin_client, log):
    response = admin_client.get(CHANGELIST)
    html = response.content.decode()
    for tag in ("eu", "order", "welcome"):
        assert f"?tag={tag}" in html


@pytest.mark.django_db
def test_a_tag_is_matched_whole_not_as_a_substring(admin_client, log):
    MessageFactory(account=log["sent"].account, tags=["orders"], to_email="x@example.com")
    response = admin_client.get(CHANGELIST, {"tag": "order"})
    assert listed(response) == {shown(log["sent"]), shown(log["failed"])}


@pytest.mark.django_db
@pytest.mark.parametrize("form", ["bracketed", "bare", "percent", "part"])
def test_it_searches_by_message_id_in_every_form(admin_client, log, form):
    message_id = log["failed"].message_id
    term = {
        "bracketed": message_id,
        "bare": message_id[1:-1],
        "percent": message_id.replace("<", "%3C").replace(">", "%3E").replace("@", "%40"),
        "part": message_id[1:12],
    }[form]
    response = admin_client.get(CHANGELIST, {"q": term})
    assert listed(response) == {shown(log["failed"])}


@pytest.mark.django_db
def test_it_searches_by_recipient(admin_client, log):
    assert listed(admin_client.get(CHANGELIST, {"q": "ben@example.com"})) == {shown(log["failed"])}
    assert listed(admin_client.get(CHANGELIST, {"q": "example.org"})) == {
        shown(log["queued"]),
        shown(log["old"]),
    }


@pytest.mark.django_db
def test_the_detail_is_read_only_with_its_events_inline(admin_client, alice):
    message = MessageFactory(
        account=alice,
        html='<p>Hi</p><script>alert("x")</script><img src="https://tracker.example/p.gif">',
        metadata={"order_id": "12345"},
    )
    MessageEvent.objects.create(message=message, event_type=EventType.SENT)
    MessageEvent.objects.create(
        message=message,
        event_type=EventType.CLICK,
        ip_address="198.51.100.4",
        user_agent="Mozilla/5.0 Reader",
        url="https://shop.example/orders/1",
    )
    response = admin_client.get(change_url(message))
    assert response.status_code == 200
    html = response.content.decode()
    # Nothing to edit: no inputs for the message's fields or its events, no add/delete rows.
    for field in ("subject", "to_email", "status", "html", "events-0-url"):
        assert f'name="{field}"' not in html
    assert 'name="_save"' not in html
    assert 'name="events-MAX_NUM_FORMS" value="0"' in html  # no "Add another" row
    assert "events-0-DELETE" not in html
    # The events, oldest first, with the reader's details.
    types = re.findall(r'<td class="field-event_type">\s*<p>(\w+)</p>', html)
    assert types == ["Sent", "Click"]
    assert "198.51.100.4" in html and "Mozilla/5.0 Reader" in html
    assert "https://shop.example/orders/1" in html
    # The html is shown as escaped source, never rendered.
    assert '<script>alert("x")</script>' not in html
    assert '<img src="https://tracker.example/p.gif">' not in html
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in html
    assert "12345" in html


@pytest.mark.django_db
def test_the_log_cannot_be_added_to_or_edited(admin_client, alice):
    message = MessageFactory(account=alice, subject="Original")
    assert admin_client.get("/admin/mail/message/add/").status_code == 403
    response = admin_client.post(change_url(message), {"subject": "Changed", "status": "failed"})
    assert response.status_code == 403
    message.refresh_from_db()
    assert (message.subject, message.status) == ("Original", MessageStatus.SENT)


@pytest.mark.django_db
def test_it_never_shows_the_providers_password(admin_client, alice):
    provider = SmtpProviderFactory(account=alice, password="s3cret-Pa55word")
    message = MessageFactory(account=alice, provider=provider)
    for url in (CHANGELIST, change_url(message)):
        assert "s3cret-Pa55word" not in admin_client.get(url).content.decode()


@pytest.mark.django_db
def test_a_large_html_body_is_cut_in_the_detail(admin_client, alice):
    message = MessageFactory(account=alice, html="<p>" + "x" * 300_000 + "</p>")
    html = admin_client.get(change_url(message)).content.decode()
    assert "cut at 100000 of 300007 characters" in html
    assert "x" * 300_000 not in html


SQLITE_RUN = "MAILPASS_ADMIN_SQLITE_RUN"


@pytest.mark.skipif(os.environ.get(SQLITE_RUN) == "1", reason="already the SQLite run")
def test_the_tag_filter_and_counts_work_on_sqlite(tmp_path):
    """The embedded default runs on SQLite, which has no JSON containment: run this file's
    filter and count tests there too (in a subprocess, on a SQLite file)."""
    if connection.vendor == "sqlite":
        pytest.skip("this run is on SQLite already")
    env = {
        **os.environ,
        SQLITE_RUN: "1",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'log.sqlite3'}",
        "CACHE_URL": "locmemcache://admin-sqlite",
        "MAILPASS_DATA_DIR": str(tmp_path),
    }
    env.pop("MAILPASS_TEST_REQUIRE_SERVICES", None)
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            __file__,
            "-k",
            "filters or counts or tag or searches",
        ],
        cwd=Path(__file__).resolve().parents[2],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert "passed" in result.stdout and "failed" not in result.stdout.splitlines()[-1]
