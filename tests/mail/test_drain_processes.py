"""Draining with real processes: concurrent drainers, a killed drainer, a real Celery worker."""

import collections
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from datetime import timedelta

import pytest
import redis
from celery import Celery
from django.db import connection
from django.utils import timezone

from mail.models import Message, QueueItem
from tests.mail.conftest import MANAGE_PY

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

CELERY_TEST_BROKER = "redis://127.0.0.1:6379/5"
# The longest any step may take. Generous: child processes start slowly on a loaded machine,
# and no assertion depends on how fast they run, only on where they are.
WAIT_SECONDS = 120


def _drainer(env: dict[str, str], **extra: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, MANAGE_PY, "process_mail_queue"],
        env={**env, **extra},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _wait_until(condition, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.1)
    return condition()


def _sessions(application_name: str) -> int:
    """Database sessions a child process opened (named with ``PGAPPNAME``) still alive."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE application_name = %s",
            [application_name],
        )
        return cursor.fetchone()[0]


def _arrivals(smtp_server) -> collections.Counter:
    with smtp_server.lock:
        return collections.Counter(m.message_id for m in smtp_server.messages)


def test_two_drainers_in_separate_processes_send_each_message_exactly_once(
    alice_provider, smtp_server, enqueue, no_kick, child_env
):
    messages = enqueue(provider=alice_provider, count=500)
    gate = smtp_server.behaviour.data_gate = threading.Event()
    drainers = [_drainer(child_env, MAILPASS_QUEUE_BATCH_SIZE="25") for _ in range(2)]
    try:
        # Each holds at most 50 items (a chunk and the one claimed ahead), so the other
        # always finds work: both are in SMTP at once, however slowly either one started.
        both_at_work = _wait_until(lambda: smtp_server.held == 2, timeout=WAIT_SECONDS)
    finally:
        gate.set()
    outputs = [d.communicate(timeout=WAIT_SECONDS) for d in drainers]

    assert both_at_work, outputs
    assert [d.returncode for d in drainers] == [0, 0], outputs
    sent = [int(out.split()[0].removeprefix("sent=")) for out, _ in outputs]
    assert sum(sent) == 500
    assert all(count > 0 for count in sent), sent  # both really took part
    arrivals = _arrivals(smtp_server)
    assert set(arrivals) == {m.message_id for m in messages}
    assert set(arrivals.values()) == {1}
    assert set(Message.objects.values_list("status", flat=True)) == {"sent"}


# Once 98 results are written, every further "sent" write waits for an advisory lock the test
# holds: the victim's result writes stop there, as if its database were slow.
_HOLD_RESULTS_SQL = """
CREATE FUNCTION mp_test_hold_results() RETURNS trigger AS $$
BEGIN
    IF NEW.status = 'sent' AND OLD.status = 'sending'
       AND (SELECT count(*) FROM mail_queueitem WHERE status = 'sent') >= 98 THEN
        PERFORM pg_advisory_xact_lock(%(lock)s);
    END IF;
    RETURN NEW;
END $$ LANGUAGE plpgsql;
CREATE TRIGGER mp_test_hold_results BEFORE UPDATE ON mail_queueitem
FOR EACH ROW EXECUTE FUNCTION mp_test_hold_results();
"""
_HOLD_RESULTS_DROP_SQL = """
DROP TRIGGER IF EXISTS mp_test_hold_results ON mail_queueitem;
DROP FUNCTION IF EXISTS mp_test_hold_results();
"""


_HOLD_LOCK = 0x4D50  # "MP"


@pytest.fixture
def results_held():
    """Result writes stop after 98 (see ``_HOLD_RESULTS_SQL``) until ``release()`` (called
    by the fixture at the latest)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_lock(%s)", [_HOLD_LOCK])
        cursor.execute(_HOLD_RESULTS_SQL, {"lock": _HOLD_LOCK})

    def release() -> None:
        with connection.cursor() as cursor:
            cursor.execute(_HOLD_RESULTS_DROP_SQL)
            cursor.execute("SELECT pg_advisory_unlock_all()")

    yield release
    release()


def _waiting_on_lock(application_name: str, lock: int) -> bool:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
            "WHERE a.application_name = %s AND l.locktype = 'advisory' AND l.objid = %s "
            "AND NOT l.granted",
            [application_name, lock],
        )
        return cursor.fetchone()[0] > 0


def test_after_a_killed_drainer_s_lease_expires_another_sends_the_rest_at_most_two_twice(
    alice_provider, smtp_server, enqueue, no_kick, child_env, results_held
):
    messages = enqueue(provider=alice_provider, count=300)
    victim_name = f"mp-test-victim-{uuid.uuid4().hex[:8]}"
    victim = _drainer(
        child_env,
        MAILPASS_QUEUE_BATCH_SIZE="40",
        MAILPASS_QUEUE_LEASE_SECONDS="300",
        PGAPPNAME=victim_name,
    )

    def unwritten() -> int:
        return len(smtp_server.messages) - QueueItem.objects.filter(status="sent").count()

    # The worst moment to die, reached whatever the speed of the machine: a result write is
    # stuck and the sender has gone as far as the bound lets it, so two messages the server
    # accepted have no result written.
    worst = _wait_until(
        lambda: _waiting_on_lock(victim_name, _HOLD_LOCK) and unwritten() >= 2,
        timeout=WAIT_SECONDS,
    )
    time.sleep(1.0)  # not for timing: a sender that broke the bound would go further meanwhile
    victim.send_signal(signal.SIGKILL)
    victim.wait(timeout=WAIT_SECONDS)
    assert worst, victim.stderr.read()[-3000:]
    # Its stuck write never commits (a write the worker never got to send, in effect).
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = %s",
            [victim_name],
        )
    assert _wait_until(lambda: not _sessions(victim_name), timeout=WAIT_SECONDS)
    results_held()  # writes go through again, for the drainers below
    in_flight = set(
        QueueItem.objects.filter(status="sending").values_list("message__message_id", flat=True)
    )
    arrived_before = set(_arrivals(smtp_server))
    assert len(in_flight & arrived_before) == 2  # accepted, no result written

    early = _drainer(child_env)  # the leases (300 s) still hold: nothing of them is taken
    early.communicate(timeout=WAIT_SECONDS)
    assert QueueItem.objects.filter(status="sending").count() == len(in_flight)
    # The lease runs out (as 300 s would): the rest is another drainer's.
    QueueItem.objects.filter(status="sending").update(
        locked_until=timezone.now() - timedelta(seconds=1)
    )
    rescuer = _drainer(child_env)
    out, err = rescuer.communicate(timeout=WAIT_SECONDS)

    assert rescuer.returncode == 0, err
    arrivals = _arrivals(smtp_server)
    assert set(arrivals) == {m.message_id for m in messages}  # all arrived
    duplicates = {mid for mid, count in arrivals.items() if count > 1}
    # Only messages in flight at the kill (sent, result not yet written) arrive twice, and at
    # most two of them: the one in SMTP and the one whose result was being written.
    assert duplicates == in_flight & arrived_before
    assert len(duplicates) <= 2, sorted(duplicates)
    assert set(Message.objects.values_list("status", flat=True)) == {"sent"}


def test_a_real_celery_worker_sends_a_queued_batch_when_kicked(
    alice_provider, smtp_server, enqueue, no_kick, child_env
):
    broker = redis.Redis.from_url(CELERY_TEST_BROKER)
    try:
        broker.ping()
    except redis.ConnectionError:
        if os.environ.get("MAILPASS_TEST_REQUIRE_SERVICES") == "1":
            raise
        pytest.skip("no Redis on 127.0.0.1:6379 for a real Celery broker")
    # A queue of its own: other test runs may share this Redis database and its workers.
    queue = f"mailpass-test-{uuid.uuid4().hex[:12]}"
    messages = enqueue(provider=alice_provider, count=20)
    worker = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "mailpass",
            "worker",
            "--pool=solo",
            "--without-mingle",
            "--without-gossip",
            "--loglevel=INFO",
            f"--queues={queue}",
        ],
        cwd=os.path.dirname(MANAGE_PY),
        env={**child_env, "CELERY_BROKER_URL": CELERY_TEST_BROKER, "CELERY_TASK_ALWAYS_EAGER": "0"},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        kicker = Celery("kick", broker=CELERY_TEST_BROKER)
        kicker.send_task("mail.queue_drain", kwargs={"limit": None}, queue=queue)
        sent = _wait_until(lambda: Message.objects.filter(status="sent").count() == 20, timeout=60)
    finally:
        worker.send_signal(signal.SIGTERM)
        try:
            log, _ = worker.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            worker.kill()
            log, _ = worker.communicate()
        kicker.close()
        broker.delete(queue)

    assert sent, log[-3000:]
    assert sorted(_arrivals(smtp_server)) == sorted(m.message_id for m in messages)
    assert "mail.queue_drain" in log
