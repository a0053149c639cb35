"""Delivering with real processes against PostgreSQL: concurrent workers deliver each event
exactly once with the per-endpoint bound held, a SIGKILLed worker's delivery goes out after its
lease, a real Celery worker on the `webhooks` queue delivers after Redis comes back, and 10,000
events to a slow endpoint neither hold up another endpoint nor grow a worker's memory."""

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from mail.models import EventType, MessageEvent
from tests.factories import MessageFactory, UserFactory
from tests.mail.conftest import MANAGE_PY
from tests.smtp_server import free_port
from webhooks.models import DeliveryStatus, WebhookDelivery

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

PROJECT_DIR = os.path.dirname(os.path.abspath(MANAGE_PY))


@pytest.fixture(autouse=True)
def _postgresql_only() -> None:
    if connection.vendor != "postgresql":
        pytest.skip("process tests need PostgreSQL (SKIP LOCKED across processes)")


@pytest.fixture
def hooks_env(child_env) -> dict[str, str]:
    return {
        **child_env,
        "MAILPASS_WEBHOOK_ALLOW_PRIVATE_NETWORKS": "true",
        "MAILPASS_WEBHOOK_KICK": "false",
    }


def _worker(env: dict[str, str], *args: str, **extra: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, MANAGE_PY, "process_webhooks", *args],
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


def _events(account, count: int) -> None:
    """``count`` sent events in one INSERT (the trigger fans them out)."""
    messages = [MessageFactory(account=account, to_email=f"u{n}@example.com") for n in range(3)]
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO mail_messageevent (message_id, event_type, ip_address, user_agent, url, "
            "detail, recipient, external_id, created_at) "
            "SELECT %s, 'sent', NULL, '', '', '', '', '', now() FROM generate_series(1, %s)",
            [messages[0].pk, count],
        )


def _ids(receiver) -> Counter:
    with receiver.lock:
        return Counter(got.headers["webhook-id"] for got in receiver.received)


def test_two_workers_in_separate_processes_deliver_each_event_once_within_the_endpoint_bound(
    alice, receiver_factory, endpoint_factory, hooks_env
):
    receivers = [receiver_factory() for _ in range(3)]
    for receiver in receivers:
        receiver.behaviour.delay = 0.05  # long enough for both to be at work together
        endpoint_factory(account=alice, url=receiver.url)
    _events(alice, 150)  # 450 deliveries

    # 2 threads a process, 3 endpoints of 2 slots: each process finds work the other left.
    workers = [
        _worker(
            hooks_env, MAILPASS_WEBHOOK_CONCURRENCY="2", MAILPASS_WEBHOOK_ENDPOINT_CONCURRENCY="2"
        )
        for _ in range(2)
    ]
    outputs = [w.communicate(timeout=180) for w in workers]

    assert [w.returncode for w in workers] == [0, 0], outputs
    delivered = [int(out.split()[0].removeprefix("delivered=")) for out, _ in outputs]
    assert sum(delivered) == 450 and all(delivered), delivered
    expected = set(WebhookDelivery.objects.values_list("webhook_id", flat=True))
    for receiver in receivers:
        ids = _ids(receiver)
        assert set(ids.values()) == {1}  # nothing twice
        assert receiver.max_in_flight <= 2  # the bound holds across both processes
    assert set().union(*(_ids(r) for r in receivers)) == expected
    assert set(WebhookDelivery.objects.values_list("status", flat=True)) == {"delivered"}


def test_a_delivery_of_a_sigkilled_worker_is_sent_after_its_lease_and_nothing_is_lost(
    alice, receiver, endpoint_factory, hooks_env
):
    receiver.behaviour.delay = 3.0
    endpoint_factory(account=alice, url=receiver.url)
    _events(alice, 4)
    # A lease long enough that a worker starting on a loaded machine still finds it held; its
    # expiry is then brought forward in the database rather than waited for.
    lease = "120"
    victim = _worker(
        hooks_env, MAILPASS_WEBHOOK_LEASE_SECONDS=lease, MAILPASS_WEBHOOK_TIMEOUT="2.5"
    )
    assert _wait_until(lambda: receiver.in_flight >= 1, timeout=30)

    victim.send_signal(signal.SIGKILL)
    victim.wait(timeout=10)
    held = set(
        WebhookDelivery.objects.filter(status=DeliveryStatus.DELIVERING).values_list(
            "webhook_id", flat=True
        )
    )
    assert held  # it died holding claimed deliveries
    receiver.behaviour.delay = 0.0
    early = _worker(hooks_env).communicate(timeout=60)  # the lease still holds
    assert WebhookDelivery.objects.filter(status=DeliveryStatus.DELIVERING).count() == len(held)
    WebhookDelivery.objects.filter(status=DeliveryStatus.DELIVERING).update(
        locked_until=timezone.now() - timedelta(seconds=1)
    )
    out, err = _worker(hooks_env).communicate(timeout=60)

    assert "delivered=" in out, err
    assert set(WebhookDelivery.objects.values_list("status", flat=True)) == {"delivered"}, early
    assert set(_ids(receiver)) == set(WebhookDelivery.objects.values_list("webhook_id", flat=True))


def _redis_server(port: int) -> subprocess.Popen:
    process = subprocess.Popen(
        [
            "redis-server",
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
        ],  # fmt: skip
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    import redis

    client = redis.Redis(port=port)
    assert _wait_until(lambda: _pings(client), timeout=10)
    return process


def _pings(client) -> bool:
    import redis

    try:
        return bool(client.ping())
    except redis.ConnectionError:
        return False


def _stop(process: subprocess.Popen) -> str:
    process.send_signal(signal.SIGTERM)
    try:
        out, _ = process.communicate(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
        out, _ = process.communicate()
    return out or ""


def _kick_until(broker: str, condition, timeout: float) -> bool:
    """Send webhooks.deliver to the broker every 2 s (what beat does) until ``condition``."""
    from celery import Celery

    client = Celery("kick", broker=broker, set_as_current=False)
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            try:
                client.send_task("webhooks.deliver", queue="webhooks", retry=False)
            except Exception:  # the worker's Redis may still be coming back
                pass
            if _wait_until(condition, timeout=2):
                return True
        return condition()
    finally:
        client.close()


def test_events_written_while_redis_is_down_wait_in_the_database_and_go_out_when_it_is_back(
    alice, receiver, endpoint_factory, hooks_env
):
    import shutil

    if shutil.which("redis-server") is None:
        pytest.skip("redis-server is not installed")
    port = free_port()
    broker = f"redis://127.0.0.1:{port}/0"
    redis_process = _redis_server(port)
    env = {**hooks_env, "CELERY_BROKER_URL": broker, "CELERY_TASK_ALWAYS_EAGER": "0"}
    worker = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "mailpass",
            "worker",
            "-Q",
            "webhooks",
            "--pool=solo",
            "--without-mingle",
            "--without-gossip",
            "--loglevel=INFO",
        ],  # fmt: skip
        cwd=PROJECT_DIR,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        endpoint_factory(account=alice, url=receiver.url)
        message = MessageFactory(account=alice)
        MessageEvent.objects.create(message=message, event_type=EventType.SENT)
        assert _kick_until(broker, lambda: len(receiver.received) == 1, timeout=60)
        import redis

        queue = redis.Redis(port=port)
        assert _wait_until(lambda: queue.llen("webhooks") == 0, timeout=30)
        time.sleep(2)  # kicks the worker had already taken have run (and found nothing)

        queue.close()
        redis_process.send_signal(signal.SIGKILL)
        redis_process.wait(timeout=10)
        for event_type in (EventType.DELIVERED, EventType.OPEN, EventType.CLICK):
            MessageEvent.objects.create(message=message, event_type=event_type)
        time.sleep(2)
        assert len(receiver.received) == 1
        assert WebhookDelivery.objects.filter(status=DeliveryStatus.PENDING).count() == 3

        redis_process = _redis_server(port)
        delivered = _kick_until(broker, lambda: len(receiver.received) == 4, timeout=120)
    finally:
        worker_log = _stop(worker)
        redis_process.kill()
        redis_process.wait()

    assert delivered, worker_log[-3000:]
    assert sorted(g.json["type"] for g in receiver.received) == [
        "message.clicked",
        "message.delivered",
        "message.opened",
        "message.sent",
    ]
    assert set(WebhookDelivery.objects.values_list("status", flat=True)) == {"delivered"}


def _rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def test_10000_events_to_a_1s_endpoint_hold_up_neither_sending_other_endpoints_nor_memory(
    alice,
    alice_provider,
    smtp_server,
    enqueue,
    no_kick,
    receiver_factory,
    endpoint_factory,
    hooks_env,
):
    slow, fast = receiver_factory(), receiver_factory()
    slow.behaviour.delay = 1.0
    endpoint_factory(account=alice, url=slow.url)
    _events(alice, 10_000)
    bob = UserFactory(username="bob")
    endpoint_factory(account=bob, url=fast.url)

    worker = _worker(hooks_env, MAILPASS_WEBHOOK_ENDPOINT_CONCURRENCY="2")
    try:
        assert _wait_until(lambda: slow.in_flight >= 1, timeout=30)
        time.sleep(2)
        early_rss = _rss_kib(worker.pid)
        _events(bob, 200)  # arrives behind 10,000 slow deliveries
        fast_done = _wait_until(lambda: len(fast.received) == 200, timeout=60)
        # Sending goes on meanwhile: a drain of 100 of alice's messages, each adding a
        # message.sent delivery to the slow endpoint's backlog.
        enqueue(provider=alice_provider, count=100)
        drain = subprocess.run(
            [sys.executable, MANAGE_PY, "process_mail_queue"],
            env=hooks_env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        time.sleep(5)
        late_rss = _rss_kib(worker.pid)
    finally:
        worker.send_signal(signal.SIGKILL)
        worker.wait()

    assert fast_done, len(fast.received)
    assert drain.returncode == 0 and drain.stdout.startswith("sent=100"), drain
    assert len(smtp_server.messages) == 100
    assert slow.max_in_flight <= 2  # the slow endpoint holds at most its bound of threads
    assert late_rss - early_rss < 20 * 1024, (early_rss, late_rss)
    pending = WebhookDelivery.objects.filter(endpoint__account=alice, status="pending").count()
    assert pending > 9_900  # still waiting, in the database (sent events included)
