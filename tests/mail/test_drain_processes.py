"""Draining with real processes: concurrent drainers, a killed drainer, a real Celery worker."""

import collections
import os
import signal
import subprocess
import sys
import time
import uuid

import pytest
import redis
from celery import Celery

from mail.models import Message, QueueItem
from tests.mail.conftest import MANAGE_PY

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

CELERY_TEST_BROKER = "redis://127.0.0.1:6379/5"


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


def _arrivals(smtp_server) -> collections.Counter:
    with smtp_server.lock:
        return collections.Counter(m.message_id for m in smtp_server.messages)


def test_two_drainers_in_separate_processes_send_each_message_exactly_once(
    alice_provider, smtp_server, enqueue, no_kick, child_env
):
    messages = enqueue(provider=alice_provider, count=500)
    smtp_server.behaviour.data_delay = 0.01  # long enough for both to be at work together

    drainers = [_drainer(child_env, MAILPASS_QUEUE_BATCH_SIZE="25") for _ in range(2)]
    outputs = [d.communicate(timeout=120) for d in drainers]

    assert [d.returncode for d in drainers] == [0, 0], outputs
    sent = [int(out.split()[0].removeprefix("sent=")) for out, _ in outputs]
    assert sum(sent) == 500
    assert all(count > 0 for count in sent), sent  # both really took part
    arrivals = _arrivals(smtp_server)
    assert set(arrivals) == {m.message_id for m in messages}
    assert set(arrivals.values()) == {1}
    assert set(Message.objects.values_list("status", flat=True)) == {"sent"}


def test_after_a_killed_drainer_s_lease_expires_another_sends_the_rest_at_most_two_twice(
    alice_provider, smtp_server, enqueue, no_kick, child_env
):
    messages = enqueue(provider=alice_provider, count=300)
    smtp_server.behaviour.data_delay = 0.005  # a slow provider: the kill lands mid-run
    lease = 10
    victim = _drainer(
        child_env, MAILPASS_QUEUE_LEASE_SECONDS=str(lease), MAILPASS_QUEUE_BATCH_SIZE="40"
    )
    assert _wait_until(lambda: len(smtp_server.messages) >= 100, timeout=60)

    victim.send_signal(signal.SIGKILL)
    victim.wait(timeout=10)
    in_flight = set(
        QueueItem.objects.filter(status="sending").values_list("message__message_id", flat=True)
    )
    assert in_flight  # it died holding leased items
    arrived_before = set(_arrivals(smtp_server))
    smtp_server.behaviour.data_delay = 0.0

    early = _drainer(child_env)  # the leases still hold: nothing of them is taken
    early.communicate(timeout=60)
    assert QueueItem.objects.filter(status="sending").count() == len(in_flight)
    time.sleep(lease + 0.5)
    rescuer = _drainer(child_env)
    out, err = rescuer.communicate(timeout=60)

    assert rescuer.returncode == 0, err
    arrivals = _arrivals(smtp_server)
    assert set(arrivals) == {m.message_id for m in messages}  # all arrived
    duplicates = {mid for mid, count in arrivals.items() if count > 1}
    # Only messages in flight at the kill (sent, result not yet written) can arrive twice,
    # and at most two of them: the one in SMTP and the one whose result was being written.
    assert duplicates <= in_flight & arrived_before
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
