"""The per-minute send-limit buckets (``SendLimitBucket``) kept by triggers on PostgreSQL.

Whatever writes a message's slot (an INSERT, the drain's stamp, a failure or cancel giving it
back, a deletion, a limit set or removed later), the buckets must say what the messages say:
``mail.limits`` counts windows from them.
"""

import threading
from datetime import timedelta

import psycopg
import pytest
from django.db import connection
from django.db.models import Sum
from django.utils import timezone

from mail.limits import WINDOWS, _windows_count, send_limit_buckets_purge
from mail.models import Message, SendLimitBucket
from tests.factories import MessageFactory


def postgresql_only():
    if connection.vendor != "postgresql":
        pytest.skip("the buckets are kept by PostgreSQL triggers; elsewhere messages are counted")


def bucket_total(provider) -> int:
    return SendLimitBucket.objects.filter(provider=provider).aggregate(t=Sum("taken"))["t"] or 0


def stamped_total(provider) -> int:
    return Message.objects.filter(provider=provider, limit_counted_at__isnull=False).count()


def stamp(provider, *, ago: timedelta) -> Message:
    return MessageFactory(
        account=provider.account, provider=provider, limit_counted_at=timezone.now() - ago
    )


@pytest.mark.django_db
def test_every_way_a_slot_is_taken_or_given_back_moves_the_buckets(alice_provider):
    postgresql_only()
    alice_provider.hourly_limit = 100
    alice_provider.save()
    taken = [stamp(alice_provider, ago=timedelta(minutes=minutes)) for minutes in (1, 1, 5, 90)]
    assert bucket_total(alice_provider) == stamped_total(alice_provider) == 4
    assert SendLimitBucket.objects.filter(provider=alice_provider).count() == 3

    # given back (a failure, a cancel), moved in time, deleted, taken later (the drain)
    Message.objects.filter(pk=taken[0].pk).update(limit_counted_at=None)
    Message.objects.filter(pk=taken[1].pk).update(limit_counted_at=timezone.now())
    taken[2].delete()
    unstamped = MessageFactory(account=alice_provider.account, provider=alice_provider)
    Message.objects.filter(pk=unstamped.pk).update(limit_counted_at=timezone.now())
    assert bucket_total(alice_provider) == stamped_total(alice_provider) == 3

    # a test message or one of an unlimited provider takes no bucket
    MessageFactory(account=alice_provider.account, provider=None, limit_counted_at=timezone.now())
    assert bucket_total(alice_provider) == 3
    assert SendLimitBucket.objects.exclude(provider=alice_provider).count() == 0


@pytest.mark.django_db
def test_a_limit_set_later_counts_what_was_sent_before_and_removing_it_drops_the_buckets(
    alice_provider,
):
    postgresql_only()
    for minutes in (2, 30, 600, 1600):  # the last one is older than the rebuild looks
        stamp(alice_provider, ago=timedelta(minutes=minutes))
    assert SendLimitBucket.objects.count() == 0  # unlimited: nothing kept

    alice_provider.daily_limit = 10
    alice_provider.save()
    assert bucket_total(alice_provider) == 3
    now, [(daily, _)] = _windows_count(provider_id=alice_provider.pk, lengths=[timedelta(days=1)])
    assert daily == 3

    alice_provider.hourly_limit = 5  # limited before and after: the buckets stay
    alice_provider.save()
    assert bucket_total(alice_provider) == 3

    alice_provider.hourly_limit = alice_provider.daily_limit = None
    alice_provider.save()
    assert SendLimitBucket.objects.count() == 0


@pytest.mark.django_db
@pytest.mark.parametrize("shift", [timedelta(0), timedelta(seconds=30), timedelta(seconds=59.9)])
def test_the_windows_count_from_buckets_equals_the_count_of_messages(alice_provider, shift):
    """The minute a window starts in is split by the window's start: its slots are counted
    from the messages, the whole minutes after it from the buckets."""
    postgresql_only()
    alice_provider.hourly_limit = alice_provider.daily_limit = 100_000
    alice_provider.save()
    offsets = [timedelta(minutes=m) + shift for m in (0, 1, 59, 60, 61, 119, 1439, 1440, 1441)]
    offsets += [timedelta(hours=1) - timedelta(microseconds=5), timedelta(hours=24, seconds=1)]
    for offset in offsets:
        stamp(alice_provider, ago=offset)
    lengths = [length for _, _, length in WINDOWS]
    now, counts = _windows_count(provider_id=alice_provider.pk, lengths=lengths)
    for length, (used, oldest) in zip(lengths, counts, strict=True):
        window = Message.objects.filter(provider=alice_provider, limit_counted_at__gt=now - length)
        assert used == window.count()
        assert oldest == min(window.values_list("limit_counted_at", flat=True))


def _message_rows_read() -> int:
    """Rows of mail_message this transaction has read so far: index entries of each of its
    indexes, and rows of sequential scans."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_stat_get_xact_tuples_returned('mail_message'::regclass)"
            " + (SELECT sum(pg_stat_get_xact_tuples_returned(indexrelid)) FROM pg_index"
            "    WHERE indrelid = 'mail_message'::regclass)"
        )
        return cursor.fetchone()[0]


@pytest.mark.django_db
def test_counting_a_window_reads_a_few_index_entries_whatever_the_statistics_say(
    alice_provider,
):
    """A window is counted from the buckets plus the minute it starts in: its cost must not
    grow with the messages in it, even where the planner believes mail_message is empty (a
    new install analyzed before its first message, or autovacuum off). Then, with an index
    on provider_id alone beside mail_msg_limit_window, the count walked every message of the
    provider (7 ms at 3,000, twice a send, under the provider's lock); and min() over the
    window read every slot for its oldest."""
    postgresql_only()
    alice_provider.hourly_limit = alice_provider.daily_limit = 100_000
    alice_provider.save()
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE mail_message")  # statistics of an empty table
    now = timezone.now()
    Message.objects.bulk_create(
        MessageFactory.build(
            account=alice_provider.account,
            provider=alice_provider,
            limit_counted_at=now - timedelta(seconds=2 * n + 1),
        )
        for n in range(600)
    )
    lengths = [length for _, _, length in WINDOWS]
    # PL/pgSQL plans a statement for its parameters five times, then may keep a generic plan.
    for _ in range(7):
        before = _message_rows_read()
        _, counts = _windows_count(provider_id=alice_provider.pk, lengths=lengths)
        reads = _message_rows_read() - before
        assert [used for used, _ in counts] == [600] * len(lengths)
        assert all(oldest == now - timedelta(seconds=1199) for _, oldest in counts)
        assert reads <= 10 * len(lengths), reads


@pytest.mark.django_db
def test_old_buckets_are_purged(alice_provider):
    postgresql_only()
    alice_provider.daily_limit = 10
    alice_provider.save()
    stamp(alice_provider, ago=timedelta(minutes=5))
    SendLimitBucket.objects.create(
        provider=alice_provider, minute=timezone.now() - timedelta(hours=30), taken=3
    )
    assert send_limit_buckets_purge() == 1
    assert bucket_total(alice_provider) == 1


@pytest.mark.django_db(transaction=True)
def test_a_limit_set_while_a_send_is_in_flight_waits_for_it_and_counts_it(alice_provider):
    """The delicate moment: a sender read the provider as unlimited (so it keeps no bucket)
    and has not committed when the limit is set. The rebuild must wait for it and count it."""
    postgresql_only()
    url = connection.settings_dict
    dsn = (
        f"host={url['HOST']} port={url['PORT'] or 5432} user={url['USER']} dbname={url['NAME']}"
        + (f" password={url['PASSWORD']}" if url["PASSWORD"] else "")
    )
    sender = psycopg.connect(dsn)  # a transaction of its own, kept open
    message = MessageFactory(account=alice_provider.account, provider=alice_provider)
    sender.execute(
        "UPDATE mail_message SET limit_counted_at = now() WHERE id = %s", [message.pk]
    )  # the trigger read "unlimited" under FOR KEY SHARE; not committed yet
    limit_set = threading.Event()

    def set_limit() -> None:
        with psycopg.connect(dsn, autocommit=True) as admin:
            admin.execute(
                "UPDATE providers_smtpprovider SET hourly_limit = 5 WHERE id = %s",
                [alice_provider.pk],
            )
        limit_set.set()

    thread = threading.Thread(target=set_limit)
    thread.start()
    try:
        waited = not limit_set.wait(1.0)
    finally:
        sender.commit()  # also when the assertion below fails: teardown needs the row free
        thread.join(10)
        sender.close()
    assert waited, "the rebuild did not wait for the sender's commit"
    assert limit_set.is_set()
    assert bucket_total(alice_provider) == stamped_total(alice_provider) == 1


BODY = {"to": "user@example.com", "subject": "Hello", "html": "<p>Hello World</p>"}


@pytest.mark.django_db(transaction=True)  # autocommit, as a request runs
def test_a_limited_send_is_checked_by_its_insert_in_one_statement(
    alice_client, alice_provider, smtp_server
):
    """No transaction, lock or count of its own: the INSERT's trigger takes the slot, checks
    the windows and leaves the tightest for the answer's headers; a full window fails the
    INSERT, and nothing is stored."""
    from django.test.utils import CaptureQueriesContext

    postgresql_only()
    alice_provider.hourly_limit = 3
    alice_provider.daily_limit = 10
    alice_provider.save()
    # The key's first use writes its last_used_at: not part of every send.
    assert alice_client.post("/api/v1/mail/send", BODY, format="json").status_code == 200

    with CaptureQueriesContext(connection) as queries:
        response = alice_client.post("/api/v1/mail/send", BODY, format="json")
    assert response.status_code == 200
    assert (response["RateLimit-Limit"], response["RateLimit-Remaining"]) == ("3", "1")
    statements = [q["sql"] for q in queries]
    assert len(statements) == 3, statements  # authentication read, INSERT, "sent" update
    assert not any("FOR NO KEY UPDATE" in sql or "SAVEPOINT" in sql for sql in statements)

    assert alice_client.post("/api/v1/mail/send", BODY, format="json").status_code == 200
    refused = alice_client.post("/api/v1/mail/send", BODY, format="json")
    assert refused.status_code == 429
    assert refused.json()["error"]["details"]["window"] == "hourly"
    assert refused["RateLimit-Remaining"] == "0"
    assert Message.objects.count() == 3 and len(smtp_server.messages) == 3
    assert bucket_total(alice_provider) == 3


@pytest.mark.django_db(transaction=True)
def test_a_keyed_limited_send_answers_its_window_too(alice_client, alice_provider, smtp_server):
    """With an Idempotency-Key the INSERT is a WITH statement that also writes the claim; the
    window the trigger left is read by its outer SELECT, after the row went through."""
    postgresql_only()
    alice_provider.hourly_limit = 4
    alice_provider.save()
    for number, remaining in ((1, "3"), (2, "2")):
        response = alice_client.post(
            "/api/v1/mail/send", BODY, format="json", headers={"Idempotency-Key": f"k{number}"}
        )
        assert response.status_code == 200
        assert response["RateLimit-Remaining"] == remaining


@pytest.mark.django_db(transaction=True)
def test_limits_set_and_removed_while_sends_run_never_deadlock_and_keep_the_buckets_exact(
    alice_key, alice_provider, smtp_server
):
    """Six senders through one provider while its limit is set and removed again and again,
    through the ORM as the admin does: no request fails, and once a limit is on, the
    buckets say exactly what the messages say."""
    postgresql_only()
    from concurrent.futures import ThreadPoolExecutor

    from rest_framework.test import APIClient

    from providers.models import SmtpProvider

    stop = threading.Event()
    failures: list[str] = []

    def sender(_):
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {alice_key}")
        try:
            while not stop.is_set():
                response = client.post("/api/v1/mail/send", BODY, format="json")
                if response.status_code not in (200, 429):
                    failures.append(f"{response.status_code} {response.content[:200]!r}")
        finally:
            connection.close()

    def toggler() -> None:
        try:
            for turn in range(13):  # ends with the limit on, senders still running
                provider = SmtpProvider.objects.get(pk=alice_provider.pk)
                provider.hourly_limit = 10_000 if turn % 2 == 0 else None
                provider.save()
                stop.wait(0.15)
            stop.wait(0.3)  # sends under the last limit
        finally:
            stop.set()
            connection.close()

    with ThreadPoolExecutor(max_workers=7) as pool:
        senders = [pool.submit(sender, n) for n in range(6)]
        pool.submit(toggler).result(timeout=60)
        for future in senders:
            future.result(timeout=60)

    assert failures == []
    alice_provider.refresh_from_db()
    assert alice_provider.hourly_limit == 10_000
    assert Message.objects.filter(provider=alice_provider).count() > 12
    # Kept by the triggers since the last rebuild, while the senders ran: still exact.
    assert bucket_total(alice_provider) == stamped_total(alice_provider)
