"""Benchmark of webhook delivery and of what webhooks cost the sending path (issue 12).

    python bench/webhooks.py [--deliveries 4000] [--count 2000] [--rounds 3]

Run from the repository root with PostgreSQL on 127.0.0.1:5432 (``BENCH_DATABASE_URL`` points
elsewhere). It makes and migrates a fresh database, starts a counting HTTP receiver and the
counting SMTP sink in processes of their own, and in one run measures:

1. deliveries/s to the local receiver with 1 and with 4 worker processes (``webhooks_run``, the
   code of the Celery task and of ``process_webhooks``), 10 endpoints of one account; every
   ``webhook-id`` must arrive exactly once;
2. the drain rate of ``bench/drain.py`` (one drainer) with 2 endpoints subscribed to
   ``message.sent`` against none: the cost of the outbox trigger on the sending path. The kick
   is off in the drainers (in production it is one debounced broker message a second, made off
   the sending thread; on the embedded default it would deliver inside the drainer).

Phases are interleaved over ``--rounds``; the best round of each counts.
"""

import argparse
import collections
import multiprocessing
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.drain import _django_setup, drain_run, enqueue_run  # noqa: E402  (run as a script)
from bench.harness import Sink, database_recreate  # noqa: E402

DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/mailpass_bench_webhooks"
ENDPOINTS = 10


# --- the counting receiver (its own process) --------------------------------------------------


def _receiver_main(port_queue, command_pipe) -> None:
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    counts: collections.Counter = collections.Counter()
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args) -> None:
            pass

        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("content-length") or 0))
            with lock:
                counts[self.headers.get("webhook-id")] += 1
            self.send_response(204)
            self.send_header("Content-Length", "0")
            self.end_headers()

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    port_queue.put(server.server_address[1])
    while command_pipe.recv() != "stop":
        with lock:
            command_pipe.send(
                (sum(counts.values()), len(counts), sum(1 for c in counts.values() if c > 1))
            )
            counts.clear()
    server.shutdown()


class Receiver:
    def __init__(self, ctx) -> None:
        port_queue = ctx.Queue()
        self._pipe, child = ctx.Pipe()
        self.process = ctx.Process(target=_receiver_main, args=(port_queue, child), daemon=True)
        self.process.start()
        self.port = port_queue.get(timeout=30)

    def read(self) -> tuple[int, int, int]:
        """(requests, distinct webhook-ids, ids seen more than once), then counting anew."""
        self._pipe.send("read")
        return self._pipe.recv()

    def stop(self) -> None:
        self._pipe.send("stop")
        self.process.join(timeout=10)


# --- webhook workers --------------------------------------------------------------------------


def _worker_main(database_url, data_dir, ready, start, results) -> None:
    _django_setup(database_url, data_dir)
    from django.db import connection

    from webhooks.delivery import webhooks_run

    connection.ensure_connection()
    ready.set()
    start.wait()
    result = webhooks_run()
    results.put(result.delivered)


def deliveries_run(*, ctx, processes: int, database_url: str, data_dir: str) -> tuple[float, int]:
    from django.db import connections

    connections.close_all()
    ready = [ctx.Event() for _ in range(processes)]
    start = ctx.Event()
    results = ctx.Queue()
    workers = [
        ctx.Process(target=_worker_main, args=(database_url, data_dir, ready[i], start, results))
        for i in range(processes)
    ]
    for worker in workers:
        worker.start()
    for event in ready:
        event.wait(timeout=60)
    began = time.perf_counter()
    start.set()
    delivered = sum(results.get(timeout=600) for _ in workers)
    elapsed = time.perf_counter() - began
    for worker in workers:
        worker.join()
    return delivered / elapsed, delivered


def events_make(*, account, deliveries: int) -> None:
    """Enough sent events for ``deliveries`` rows over the 10 endpoints, in one INSERT."""
    from django.db import connection

    from mail.models import Message, MessageStatus

    message = Message.objects.create(
        account=account,
        message_id=f"<bench.{time.time_ns()}@mailpass.im>",
        from_email="bench@example.com",
        to_email="user@example.com",
        subject="Order",
        text="t",
        status=MessageStatus.SENT,
    )
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO mail_messageevent (message_id, event_type, ip_address, user_agent, url, "
            "detail, recipient, external_id, created_at) "
            "SELECT %s, 'sent', NULL, '', '', '', '', '', now() FROM generate_series(1, %s)",
            [message.pk, deliveries // ENDPOINTS],
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--deliveries", type=int, default=4000)
    parser.add_argument("--count", type=int, default=2000, help="messages per drain")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    database_url = os.environ.get("BENCH_DATABASE_URL", DEFAULT_DATABASE_URL)
    data_dir = tempfile.mkdtemp(prefix="mailpass-bench-")
    os.environ["MAILPASS_WEBHOOK_ALLOW_PRIVATE_NETWORKS"] = "true"
    os.environ["MAILPASS_WEBHOOK_KICK"] = "false"
    ctx = multiprocessing.get_context("spawn")

    database_recreate(database_url)
    _django_setup(database_url, data_dir)
    from django.contrib.auth import get_user_model
    from django.core.management import call_command

    import mail.queue.enqueue
    from mail.models import Message
    from providers.models import Security, SmtpProvider
    from templating.models import Template
    from webhooks.models import WebhookDelivery, WebhookEndpoint
    from webhooks.signing import secret_generate

    call_command("migrate", verbosity=0)
    mail.queue.enqueue.queue_drain_kick = lambda **kwargs: None
    receiver, sink = Receiver(ctx), Sink(ctx)
    User = get_user_model()
    hooks_account = User.objects.create(username="bench-hooks")
    for n in range(ENDPOINTS):
        endpoint = WebhookEndpoint(
            account=hooks_account, url=f"http://127.0.0.1:{receiver.port}/hook/{n}"
        )
        endpoint.secret = secret_generate()
        endpoint.save()
    account = User.objects.create(username="bench")
    SmtpProvider.objects.create(
        account=account,
        name="sink",
        host="127.0.0.1",
        port=sink.port,
        security=Security.NONE,
        from_email="bench@example.com",
        from_name="Bench",
        is_default=True,
        timeout=10,
    )
    Template.objects.create(account=account, name="bench-order", subject="s", html="h", text="t")
    deliveries = args.deliveries - args.deliveries % ENDPOINTS
    print(
        f"{deliveries} deliveries over {ENDPOINTS} endpoints, {args.count} messages per drain, "
        f"{args.rounds} rounds, database {database_url}"
    )

    rates: dict[str, list[float]] = {k: [] for k in ("w1", "w4", "none", "two")}
    checks = []
    for _ in range(args.rounds):
        for key, processes in (("w1", 1), ("w4", 4)):
            events_make(account=hooks_account, deliveries=deliveries)
            rate, delivered = deliveries_run(
                ctx=ctx, processes=processes, database_url=database_url, data_dir=data_dir
            )
            rates[key].append(rate)
            checks.append((f"{processes} worker(s)", delivered, receiver.read()))
        for key in ("none", "two"):
            if key == "two":
                for n in range(2):
                    endpoint = WebhookEndpoint(
                        account=account,
                        url=f"http://127.0.0.1:{receiver.port}/drain/{n}",
                        events=["message.sent"],
                    )
                    endpoint.secret = secret_generate()
                    endpoint.save()
            Message.objects.filter(account=account).delete()
            enqueue_run(account=account, count=args.count, validate=False)
            rate, sent, _ = drain_run(
                ctx=ctx, processes=1, database_url=database_url, data_dir=data_dir
            )
            rates[key].append(rate)
            made = WebhookDelivery.objects.filter(endpoint__account=account).count()
            expected = 2 * sent if key == "two" else 0
            checks.append((f"drain, {key}", sent, (made, expected, 0 if made == expected else 1)))
            # Those deliveries are not part of the delivery phases (cascade-deleted).
            WebhookEndpoint.objects.filter(account=account).delete()
            sink.read()
    receiver.stop()
    sink.stop()

    for name, delivered, (total, distinct, duplicated) in checks:
        if name.startswith("drain"):
            ok = duplicated == 0
            print(f"check {name:<12}: {delivered} sent, {total} deliveries written "
                  f"(expected {distinct}) [{'ok' if ok else 'MISMATCH'}]")  # fmt: skip
            continue
        ok = (total, distinct, duplicated) == (deliveries, deliveries, 0) == (delivered,) * 2 + (0,)
        print(
            f"check {name:<12}: {delivered} delivered, receiver got {total} ({distinct} distinct, "
            f"{duplicated} twice) [{'ok' if ok else 'MISMATCH'}]"
        )
    best = {k: max(v) for k, v in rates.items()}

    def row(label: str, key: str, unit: str) -> None:
        rounds = " ".join(f"{r:.0f}" for r in rates[key])
        print(f"{label:<40}: {best[key]:8.0f} {unit}  (rounds: {rounds})")

    row("webhook deliveries, 1 worker", "w1", "deliveries/s")
    row("webhook deliveries, 4 workers", "w4", "deliveries/s")
    row("drain, no endpoint", "none", "msgs/s")
    row("drain, 2 endpoints on message.sent", "two", "msgs/s")
    print(f"ratio 4 workers / 1 worker               : {best['w4'] / best['w1']:8.2f}")
    print(
        f"ratio drain 2 endpoints / none           : {best['two'] / best['none']:8.2f}"
        "    (target >= 0.90)"
    )


if __name__ == "__main__":
    main()
