"""Many clients at once, and a slow database that makes one client wait, not the server."""

import smtplib
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import psycopg
import pytest
from django.db import connection

from accounts.models import ApiKey
from mail.models import Message, QueueItem
from tests.factories import api_key_for
from tests.relay.conftest import simple_message

pytestmark = pytest.mark.django_db(transaction=True)


def _send(port: int, key: str, n: int) -> tuple[int, bytes]:
    client = smtplib.SMTP("127.0.0.1", port, timeout=30)
    client.login("mailpass", key)
    client.mail("support@yourdomain.com")
    client.rcpt(f"user{n}@example.com")
    answer = client.data(simple_message(to=f"user{n}@example.com", subject=f"Hello {n}"))
    client.quit()
    return answer


@pytest.mark.skipif(
    connection.vendor != "postgresql",
    reason="SQLite's shared-cache test database answers concurrent writers 'table is locked'",
)
def test_20_concurrent_connections_each_queue_their_message_in_their_own_account(
    relay, alice, bob, alice_key, alice_provider, smtp_server
):
    from tests.factories import SmtpProviderFactory

    SmtpProviderFactory(account=bob, host=smtp_server.host, port=smtp_server.port)
    bob_key = api_key_for(bob)
    start = threading.Barrier(20)

    def one(n: int) -> tuple[int, bytes]:
        start.wait()
        return _send(relay.port, alice_key if n % 2 else bob_key, n)

    with ThreadPoolExecutor(max_workers=20) as pool:
        answers = list(pool.map(one, range(20)))

    assert [code for code, _ in answers] == [250] * 20
    ids = [reply.decode().rsplit(" ", 1)[1] for _, reply in answers]
    assert len(set(ids)) == 20
    # Each reply names the message of that very connection, in the account of its key
    # (messages ready at the same moment are queued together, per account).
    for n, message_id in enumerate(ids):
        message = Message.objects.get(message_id=message_id)
        assert message.to_email == f"user{n}@example.com"
        assert message.subject == f"Hello {n}"
        assert message.account == (alice if n % 2 else bob)


def _database_url() -> str:
    db = connection.settings_dict
    return (
        f"postgresql://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"
    )


@pytest.mark.skipif(
    connection.vendor != "postgresql", reason="holds a PostgreSQL row lock from outside"
)
def test_a_client_stuck_in_a_slow_database_call_does_not_stall_the_others(
    relay, alice, bob, alice_provider, smtp_server
):
    from tests.factories import SmtpProviderFactory

    SmtpProviderFactory(account=bob, host=smtp_server.host, port=smtp_server.port)
    slow_key, fast_key = api_key_for(alice), api_key_for(bob)
    # AUTH marks a key used: an UPDATE of its row, which waits while another transaction
    # holds that row. Alice's AUTH thus sits in the database until the lock is released.
    locker = psycopg.connect(_database_url())
    locker.execute(
        "SELECT id FROM accounts_apikey WHERE id = %s FOR UPDATE",
        [ApiKey.objects.get(account=alice).pk],
    )
    slow_result: list = []
    slow = threading.Thread(target=lambda: slow_result.append(_send(relay.port, slow_key, 1)))
    slow.start()
    try:
        slow.join(1.0)
        assert slow.is_alive()  # waiting on the database
        # Meanwhile bob's whole dialogue completes on the same relay.
        code, reply = _send(relay.port, fast_key, 2)
        assert code == 250 and reply.startswith(b"2.0.0 queued as <")
        assert slow.is_alive()
    finally:
        locker.rollback()
        locker.close()
    slow.join(30)
    assert slow_result and slow_result[0][0] == 250
    assert Message.objects.filter(account=alice).count() == 1
    assert Message.objects.filter(account=bob).count() == 1


@pytest.mark.skipif(
    connection.vendor != "postgresql", reason="locks a PostgreSQL table from outside"
)
def test_messages_that_wait_for_a_free_enqueue_are_queued_together_and_all_sent(
    relay, alice, alice_key, alice_provider, smtp_server
):
    groups = relay.handler.groups
    waiting = 6
    clients = groups.concurrency + waiting
    # INSERTs into mail_message wait (reads do not): the first messages' jobs hold every
    # enqueue slot of alice's account, so the next ones must wait for a free one.
    locker = psycopg.connect(_database_url())
    locker.execute("LOCK TABLE mail_message IN EXCLUSIVE MODE")
    with ThreadPoolExecutor(max_workers=clients) as pool:
        try:
            sends = [pool.submit(_send, relay.port, alice_key, n) for n in range(clients)]
            deadline = time.monotonic() + 20
            while sum(len(v) for k, v in groups.pending.items() if k[0] == alice.pk) < waiting:
                assert time.monotonic() < deadline, "the messages never waited"
                time.sleep(0.02)
            assert not any(send.done() for send in sends)  # no 250 before the commit
        finally:
            locker.rollback()
            locker.close()
        answers = [send.result(timeout=30) for send in sends]

    assert [code for code, _ in answers] == [250] * clients
    # One transaction per job: its rows share its timestamp. The ones that waited went in one.
    per_transaction = Counter(
        QueueItem.objects.filter(account=alice).values_list("created_at", flat=True)
    )
    assert sorted(per_transaction.values()) == [1] * groups.concurrency + [waiting]
    # Each job's drain (eager in the tests) sent its messages before their replies.
    for _, reply in answers:
        assert len(smtp_server.by_message_id(reply.decode().rsplit(" ", 1)[1])) == 1
