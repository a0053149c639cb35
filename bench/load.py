"""Load test: the whole service under a mixed load, then a check that every accepted message
reached the SMTP sink exactly once.

    python bench/load.py [--seconds 60] [--clients 8] [--broker redis://127.0.0.1:6379/12]

Run from the repository root with PostgreSQL on 127.0.0.1:5432 and Redis on 127.0.0.1:6379.
What it does (see docs/README-proof.md):

1. starts a counting aiosmtpd sink in its own process (it records every Message-ID);
2. creates a fresh PostgreSQL database (``--database``, dropped first), migrates it (which
   installs the periodic drain in celery-beat's schedule) and makes a user, a live API key and
   a default SMTP provider pointing at the sink (no send limits); empties the broker's Redis
   database (``--broker``: give it one of its own);
3. starts gunicorn, a Celery worker and celery-beat, all on that database and broker;
4. for ``--seconds``, ``--clients`` client processes (HTTP keep-alive) each send a mix:
   70 % POST /send, 20 % GET /status of a message it was answered before, 10 % POST /send-batch
   of 20 messages;
5. prints requests/s, messages/s, p50, p95 and p99 per endpoint and overall, and the errors by
   endpoint and code;
6. waits for the queue to drain, then compares what was accepted (each /send answered 200,
   each batch item answered ``queued``) with what the sink received: lost (accepted, never
   received), duplicated (received more than once), unexpected (received, never accepted).
   Exit status 1 unless lost and duplicated are both zero.
"""

import argparse
import collections
import http.client
import json
import multiprocessing as mp
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import quote

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.harness import (  # noqa: E402  (run as a script from the repository root)
    PYTHON,
    ROOT,
    Sink,
    database_recreate,
    free_port,
    gunicorn_start,
    process_group_stop,
    service_env,
    service_prepare,
)

ENDPOINTS = ("send", "status", "batch")
MIX = (("send", 0.70), ("status", 0.20), ("batch", 0.10))
BATCH_SIZE = 20


def message(client: int, n: int) -> dict:
    return {
        "to": f"user{client}.{n}@example.com",
        "subject": f"Order {client}.{n} confirmed",
        "html": f'<h1>Order {n}</h1><p>See <a href="https://example.com/o/{n}">it</a>.</p>',
        "text": f"Order {n}: https://example.com/o/{n}",
        "tags": ["order"],
        "metadata": {"order_id": f"{client}.{n}"},
    }


def client_main(port: int, key: str, client: int, seconds: float, start_at: float, results):
    """One client process: the mix for ``seconds``; puts its latencies, errors and ids."""
    rng = random.Random(client)
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
    latencies: dict[str, list[float]] = {name: [] for name in ENDPOINTS}
    errors: collections.Counter = collections.Counter()
    sent_ids: list[str] = []  # /send answered 200
    queued_ids: list[str] = []  # batch items answered "queued"
    unknown = 0  # requests whose outcome we never learned (connection lost)
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    n = 0
    while time.time() < start_at:
        time.sleep(0.001)
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        pick = rng.random()
        endpoint = "send" if pick < 0.70 else "status" if pick < 0.90 else "batch"
        known = sent_ids or queued_ids
        if endpoint == "status" and not known:
            endpoint = "send"
        if endpoint == "send":
            n += 1
            method, path, body = "POST", "/api/v1/mail/send", message(client, n)
        elif endpoint == "batch":
            items = []
            for _ in range(BATCH_SIZE):
                n += 1
                items.append(message(client, n))
            method, path, body = "POST", "/api/v1/mail/send-batch", {"messages": items}
        else:
            pool = sent_ids if (sent_ids and (not queued_ids or rng.random() < 0.7)) else queued_ids
            message_id = pool[rng.randrange(max(0, len(pool) - 200), len(pool))]
            method, path, body = "GET", f"/api/v1/mail/status/{quote(message_id)}", None
        started = time.perf_counter()
        try:
            conn.request(method, path, json.dumps(body) if body else None, headers)
            response = conn.getresponse()
            raw = response.read()
            if response.getheader("Connection", "").lower() == "close":
                conn.close()
        except (OSError, http.client.HTTPException) as exc:
            conn.close()
            errors[(endpoint, type(exc).__name__)] += 1
            unknown += endpoint != "status"
            continue
        latencies[endpoint].append(time.perf_counter() - started)
        try:
            answer = json.loads(raw)
        except ValueError:
            errors[(endpoint, f"HTTP {response.status} (not JSON)")] += 1
            continue
        if response.status != 200:
            errors[(endpoint, answer.get("error", {}).get("code", str(response.status)))] += 1
            if endpoint == "send" and response.status == 500:
                unknown += answer["error"]["code"] != "SEND_FAILED"
            continue
        if endpoint == "send":
            sent_ids.append(answer["data"]["message_id"])
        elif endpoint == "batch":
            for item in answer["data"]["messages"]:
                if item["status"] == "queued":
                    queued_ids.append(item["message_id"])
                else:
                    errors[("batch item", item["error"]["code"])] += 1
    conn.close()
    results.put((latencies, dict(errors), sent_ids, queued_ids, unknown))


def percentile(sorted_values: list[float], p: float) -> float:
    if not sorted_values:
        return float("nan")
    index = min(len(sorted_values) - 1, max(0, round(p / 100 * len(sorted_values)) - 1))
    return sorted_values[index] * 1000


def broker_flush(broker_url: str) -> None:
    import redis

    redis.Redis.from_url(broker_url).flushdb()


def queue_backlog(database_url: str) -> tuple[int, int]:
    """(queue items not finished, messages still queued or sending)."""
    import psycopg

    with psycopg.connect(database_url, autocommit=True) as conn:
        items = conn.execute(
            "SELECT count(*) FROM mail_queueitem WHERE status IN ('queued', 'sending')"
        ).fetchone()[0]
        messages = conn.execute(
            "SELECT count(*) FROM mail_message WHERE status IN ('queued', 'sending')"
        ).fetchone()[0]
    return items, messages


def message_statuses(database_url: str) -> dict[str, int]:
    import psycopg

    with psycopg.connect(database_url, autocommit=True) as conn:
        rows = conn.execute("SELECT status, count(*) FROM mail_message GROUP BY status").fetchall()
    return dict(rows)


def celery_start(env: dict[str, str], *args: str, log: Path) -> subprocess.Popen:
    command = [PYTHON, "-m", "celery", "-A", "mailpass", *args, "--loglevel=WARNING"]
    with open(log, "ab") as out:
        return subprocess.Popen(
            command, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0, help="how long the load runs")
    parser.add_argument("--clients", type=int, default=8, help="client processes")
    parser.add_argument("--workers", type=int, default=3, help="gunicorn worker processes")
    parser.add_argument("--threads", type=int, default=2, help="threads per gunicorn worker")
    parser.add_argument("--concurrency", type=int, default=2, help="Celery worker processes")
    parser.add_argument("--drain-timeout", type=float, default=600.0, help="seconds to wait")
    parser.add_argument(
        "--database",
        default=os.environ.get(
            "BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/mailpass_bench_load"
        ),
        help="PostgreSQL URL of a database the benchmark may DROP and recreate",
    )
    parser.add_argument(
        "--broker",
        default=os.environ.get("BENCH_BROKER_URL", "redis://127.0.0.1:6379/12"),
        help="Redis URL of the Celery broker; the benchmark EMPTIES this Redis database",
    )
    parser.add_argument(
        "--cache",
        default=os.environ.get("BENCH_CACHE_URL", "redis://127.0.0.1:6379/13"),
        help="cache URL of the service (the per-key API rate limit lives there)",
    )
    args = parser.parse_args()

    ctx = mp.get_context("spawn")
    sink = Sink(ctx)
    data_dir = Path(tempfile.mkdtemp(prefix="mailpass-load-"))
    database_recreate(args.database)
    broker_flush(args.broker)
    env = service_env(args.database, str(data_dir), args.cache)
    env.update(CELERY_BROKER_URL=args.broker, CELERY_TASK_ALWAYS_EAGER="false")
    key = service_prepare(env, sink.port)
    api_port = free_port()
    log = data_dir / "celery.log"
    processes = []
    try:
        server = gunicorn_start(env, api_port, args.workers, args.threads)
        processes.append(server)
        worker_args = ("worker", f"--concurrency={args.concurrency}", "--without-heartbeat")
        processes.append(celery_start(env, *worker_args, "--without-gossip", log=log))
        processes.append(
            celery_start(
                env,
                "beat",
                "--scheduler",
                "django_celery_beat.schedulers:DatabaseScheduler",
                log=log,
            )
        )
        time.sleep(3)  # let the worker connect to the broker
        print(
            f"gunicorn 127.0.0.1:{api_port} ({args.workers} workers x {args.threads} threads), "
            f"celery worker (concurrency {args.concurrency}) and beat on {args.broker}, "
            f"sink 127.0.0.1:{sink.port}, database {args.database}; "
            f"{args.clients} clients for {args.seconds:g} s; load average before: "
            f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}",
            flush=True,
        )
        results = ctx.Queue()
        start_at = time.time() + 1.0
        clients = [
            ctx.Process(
                target=client_main, args=(api_port, key, c, args.seconds, start_at, results)
            )
            for c in range(args.clients)
        ]
        for client in clients:
            client.start()
        outcomes = [results.get(timeout=args.seconds + 300) for _ in clients]
        load_done = time.time()
        load_average = os.getloadavg()
        for client in clients:
            client.join()

        latencies: dict[str, list[float]] = {name: [] for name in ENDPOINTS}
        errors: collections.Counter = collections.Counter()
        sent_ids: list[str] = []
        queued_ids: list[str] = []
        unknown = 0
        for got, failed, sent, queued, lost_track in outcomes:
            for name in ENDPOINTS:
                latencies[name].extend(got[name])
            errors.update(failed)
            sent_ids.extend(sent)
            queued_ids.extend(queued)
            unknown += lost_track
        seconds = args.seconds

        print(
            f"\n{'endpoint':<10} {'requests':>8} {'req/s':>8} {'p50 ms':>8} {'p95 ms':>8} "
            f"{'p99 ms':>8} {'errors':>6}"
        )
        everything: list[float] = []
        for name in ENDPOINTS:
            values = sorted(latencies[name])
            everything.extend(values)
            failed = sum(count for (endpoint, _), count in errors.items() if endpoint == name)
            print(
                f"{name:<10} {len(values) + failed:>8} {(len(values) + failed) / seconds:>8.1f} "
                f"{percentile(values, 50):>8.1f} {percentile(values, 95):>8.1f} "
                f"{percentile(values, 99):>8.1f} {failed:>6}"
            )
        everything.sort()
        total_errors = sum(errors.values())
        print(
            f"{'overall':<10} {len(everything) + total_errors:>8} "
            f"{(len(everything) + total_errors) / seconds:>8.1f} "
            f"{percentile(everything, 50):>8.1f} {percentile(everything, 95):>8.1f} "
            f"{percentile(everything, 99):>8.1f} {total_errors:>6}"
        )
        accepted = len(sent_ids) + len(queued_ids)
        print(
            f"\nmessages accepted: {accepted} ({accepted / seconds:.1f} msgs/s): "
            f"{len(sent_ids)} sent by /send ({len(sent_ids) / seconds:.1f}/s), "
            f"{len(queued_ids)} queued by /send-batch ({len(queued_ids) / seconds:.1f}/s)"
        )
        print(
            "errors by endpoint and code: "
            + (", ".join(f"{e} {c}: {n}" for (e, c), n in sorted(errors.items())) or "none")
        )
        print(f"load average at the end of the load: {' '.join(f'{x:.2f}' for x in load_average)}")

        # Drain: the queue empties (worker kicks and beat), then the sink stops changing.
        deadline = time.time() + args.drain_timeout
        backlog = queue_backlog(args.database)
        while backlog != (0, 0) and time.time() < deadline:
            time.sleep(1)
            backlog = queue_backlog(args.database)
        drained_after = time.time() - load_done
        last, stable_since = sink.read(reset=False)[0], time.time()
        while time.time() - stable_since < 3 and time.time() < deadline:
            time.sleep(0.5)
            now = sink.read(reset=False)[0]
            if now != last:
                last, stable_since = now, time.time()
        print(
            f"queue drained {drained_after:.1f} s after the load ended"
            + ("" if backlog == (0, 0) else f" -- NOT DRAINED: {backlog} left")
            + f"; message statuses: {message_statuses(args.database)}"
        )
        received = sink.message_ids()
        expected = set(sent_ids) | set(queued_ids)
        lost = expected - set(received)
        duplicated = {mid: n for mid, n in received.items() if n > 1}
        unexpected = set(received) - expected
        print(
            f"sink: {sum(received.values())} received, {len(received)} distinct; "
            f"accepted {len(expected)} (ids answered twice: {accepted - len(expected)}); "
            f"lost {len(lost)}, duplicated {len(duplicated)}, unexpected {len(unexpected)} "
            f"(requests with unknown outcome: {unknown})"
        )
        for mid in sorted(lost)[:5]:
            print(f"  lost: {mid}")
        for mid, n in sorted(duplicated.items())[:5]:
            print(f"  duplicated x{n}: {mid}")
        for mid in sorted(unexpected)[:5]:
            print(f"  unexpected: {mid}")
        ok = not lost and not duplicated and accepted == len(expected)
        print("RESULT: " + ("OK, every accepted message arrived exactly once" if ok else "FAIL"))
        return 0 if ok else 1
    finally:
        for process in reversed(processes):
            process_group_stop(process)
        sink.stop()
        shutil.rmtree(data_dir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
