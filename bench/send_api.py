"""Benchmark POST /api/v1/mail/send against raw smtplib, in one run, to the same SMTP sink.

    python bench/send_api.py [--duration 10] [--clients 1,8] [--workers 4] [--threads 2]

What it does (see docs/README-send.md):
1. starts a counting aiosmtpd sink in its own process on a free loopback port;
2. creates a fresh PostgreSQL database (``--database``, dropped first), migrates it, and makes a
   user, a live API key and a default SMTP provider pointing at the sink (no send limits);
3. starts the service under gunicorn on loopback;
4. for each client count: drives POST /send for ``--duration`` seconds with that many client
   processes (HTTP keep-alive), and sends the same message with raw smtplib, one connection
   per message, from the same number of client processes; the two alternate in ``--slices``
   slices so that other load on the machine hits both alike;
5. prints requests/s, p50 and p95 of each, and the API/raw ratios.

Clients are processes, not threads, so the load generator is not serialized on one GIL.
"""

import argparse
import http.client
import json
import multiprocessing as mp
import os
import shutil
import signal
import smtplib
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from email.message import EmailMessage
from email.utils import formataddr, formatdate, make_msgid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable

MESSAGE = {
    "to": "user@example.com",
    "subject": "Order Confirmation",
    "html": "<h1>Your order has been confirmed</h1>",
    "text": "Your order has been confirmed",
    "from_email": "support@yourdomain.com",
    "from_name": "Your App",
    "reply_to": "reply@yourdomain.com",
    "cc": ["cc@example.com"],
    "bcc": ["bcc@example.com"],
    "tags": ["order", "confirmation"],
    "metadata": {"order_id": "12345"},
    # Tracking rewrites html; the raw client cannot do that, so the comparison leaves it out.
    "track_opens": False,
    "track_clicks": False,
}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_port(port: int, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"nothing answers on 127.0.0.1:{port}")


# --- the SMTP sink ----------------------------------------------------------------------------


def sink_main(port: int, counter, ready) -> None:
    """aiosmtpd that accepts and counts every message, nothing else."""
    import asyncio

    from aiosmtpd.controller import Controller

    class Counting:
        async def handle_DATA(self, server, session, envelope):
            with counter.get_lock():
                counter.value += 1
            return "250 2.0.0 OK"

    controller = Controller(Counting(), hostname="127.0.0.1", port=port)
    controller.start()
    ready.set()
    try:
        asyncio.run(asyncio.sleep(10**9))
    finally:
        controller.stop()


# --- the service ------------------------------------------------------------------------------


def service_env(database_url: str, data_dir: str, cache_url: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        DATABASE_URL=database_url,
        MAILPASS_DATA_DIR=data_dir,
        CACHE_URL=cache_url,
        # The per-key API rate limit protects the service; the benchmark measures past it.
        MAILPASS_API_RATE="100000000/min",
        LOG_LEVEL="WARNING",
        DEBUG="0",
        PYTHONPATH=str(ROOT),
    )
    env.pop("CELERY_BROKER_URL", None)
    return env


def database_recreate(database_url: str) -> None:
    import psycopg

    base, _, name = database_url.rpartition("/")
    with psycopg.connect(f"{base}/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')


SETUP_SCRIPT = """
import django
django.setup()
from accounts.services import api_key_create, account_get_or_create
from providers.services import provider_create
user = account_get_or_create(username="bench", create=True)
provider_create(account=user, name="sink", host="127.0.0.1", port={port}, security="none",
                from_email="support@yourdomain.com", from_name="Your App", make_default=True)
print(api_key_create(account=user).plain_key)
"""


def service_prepare(env: dict[str, str], sink_port: int) -> str:
    """Migrate the fresh database, create the account, key and provider; return the key."""
    run = {"cwd": ROOT, "env": env, "check": True, "capture_output": True, "text": True}
    subprocess.run([PYTHON, "manage.py", "migrate", "--noinput"], **run)
    env = {**env, "DJANGO_SETTINGS_MODULE": "mailpass.settings"}
    out = subprocess.run([PYTHON, "-c", SETUP_SCRIPT.format(port=sink_port)], **{**run, "env": env})
    return out.stdout.strip().splitlines()[-1]


def gunicorn_start(env: dict[str, str], port: int, workers: int, threads: int):
    command = [
        PYTHON,
        "-m",
        "gunicorn",
        "mailpass.wsgi:application",
        "--bind",
        f"127.0.0.1:{port}",
        "--workers",
        str(workers),
        "--threads",
        str(threads),
        "--worker-class",
        "gthread" if threads > 1 else "sync",
        "--keep-alive",
        "30",
        "--log-level",
        "warning",
    ]
    process = subprocess.Popen(command, cwd=ROOT, env=env, start_new_session=True)
    wait_for_port(port)
    return process


# --- the clients ------------------------------------------------------------------------------


def api_client_main(port: int, key: str, duration: float, start_at: float, results) -> None:
    body = json.dumps(MESSAGE).encode()
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
    latencies: list[float] = []
    errors = 0
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    while time.time() < start_at:
        time.sleep(0.001)
    end = time.perf_counter() + duration
    while time.perf_counter() < end:
        started = time.perf_counter()
        try:
            conn.request("POST", "/api/v1/mail/send", body, headers)
            response = conn.getresponse()
            response.read()
            ok = response.status == 200
            if response.getheader("Connection", "").lower() == "close":
                conn.close()
        except (OSError, http.client.HTTPException):
            conn.close()
            ok = False
        if ok:
            latencies.append(time.perf_counter() - started)
        else:
            errors += 1
    conn.close()
    results.put((latencies, errors))


def raw_message() -> bytes:
    """The same message as the API sends, built per send like a real client would."""
    message = EmailMessage()
    message["From"] = formataddr((MESSAGE["from_name"], MESSAGE["from_email"]))
    message["To"] = MESSAGE["to"]
    message["Cc"] = ", ".join(MESSAGE["cc"])
    message["Reply-To"] = MESSAGE["reply_to"]
    message["Subject"] = MESSAGE["subject"]
    message["Date"] = formatdate(localtime=False)
    message["Message-ID"] = make_msgid(domain="mailpass.im")
    message.set_content(MESSAGE["text"])
    message.add_alternative(MESSAGE["html"], subtype="html")
    return message.as_bytes(policy=message.policy.clone(linesep="\r\n"))


def raw_client_main(port: int, duration: float, start_at: float, results) -> None:
    recipients = [MESSAGE["to"], *MESSAGE["cc"], *MESSAGE["bcc"]]
    latencies: list[float] = []
    errors = 0
    while time.time() < start_at:
        time.sleep(0.001)
    end = time.perf_counter() + duration
    while time.perf_counter() < end:
        started = time.perf_counter()
        try:
            with smtplib.SMTP("127.0.0.1", port, timeout=30) as smtp:
                smtp.sendmail(MESSAGE["from_email"], recipients, raw_message())
            latencies.append(time.perf_counter() - started)
        except (OSError, smtplib.SMTPException):
            errors += 1
    results.put((latencies, errors))


def drive_once(target, args: tuple, clients: int, duration: float) -> tuple[list[float], int]:
    results = mp.Queue()
    start_at = time.time() + 0.3  # every client starts at the same moment
    processes = [
        mp.Process(target=target, args=(*args, duration, start_at, results)) for _ in range(clients)
    ]
    for process in processes:
        process.start()
    latencies: list[float] = []
    errors = 0
    for _ in processes:
        got, failed = results.get(timeout=duration + 120)
        latencies.extend(got)
        errors += failed
    for process in processes:
        process.join()
    return latencies, errors


def summarize(latencies: list[float], errors: int, duration: float) -> dict[str, float]:
    latencies.sort()
    if not latencies:
        return {"rate": 0.0, "p50": float("nan"), "p95": float("nan"), "errors": errors, "n": 0}
    return {
        "rate": len(latencies) / duration,
        "p50": statistics.median(latencies) * 1000,
        "p95": latencies[min(len(latencies) - 1, int(len(latencies) * 0.95))] * 1000,
        "errors": errors,
        "n": len(latencies),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per measurement")
    parser.add_argument("--clients", default="1,8", help="comma-separated client counts")
    parser.add_argument(
        "--slices", type=int, default=5, help="alternate API and raw runs this many times"
    )
    parser.add_argument("--workers", type=int, default=4, help="gunicorn worker processes")
    parser.add_argument("--threads", type=int, default=2, help="threads per gunicorn worker")
    parser.add_argument(
        "--database",
        default=os.environ.get(
            "BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/mailpass_bench_send"
        ),
        help="PostgreSQL URL of a database the benchmark may DROP and recreate",
    )
    parser.add_argument(
        "--cache",
        default=os.environ.get("BENCH_CACHE_URL", ""),
        help="cache URL of the service (the per-key API rate limit lives there); default "
        "Redis db 14 on 127.0.0.1:6379 when it answers, else local memory",
    )
    args = parser.parse_args()
    if not args.cache:
        try:
            wait_for_port(6379, timeout=0.5)
            args.cache = "redis://127.0.0.1:6379/14"
        except RuntimeError:
            args.cache = "locmemcache://bench"
    client_counts = [int(n) for n in args.clients.split(",")]

    sink_port, api_port = free_port(), free_port()
    counter, ready = mp.Value("q", 0), mp.Event()
    sink = mp.Process(target=sink_main, args=(sink_port, counter, ready), daemon=True)
    sink.start()
    ready.wait(10)
    data_dir = tempfile.mkdtemp(prefix="mailpass-bench-")
    database_recreate(args.database)
    env = service_env(args.database, data_dir, args.cache)
    key = service_prepare(env, sink_port)
    server = gunicorn_start(env, api_port, args.workers, args.threads)
    print(
        f"sink 127.0.0.1:{sink_port}; gunicorn 127.0.0.1:{api_port} "
        f"({args.workers} workers x {args.threads} threads, cache {args.cache}); "
        f"{args.duration:g} s per measurement "
        f"in {args.slices} alternating slices"
    )
    rows = []
    try:
        drive_once(api_client_main, (api_port, key), args.workers * args.threads, 1.0)  # warm-up
        for clients in client_counts:
            # API and raw runs alternate in slices, so load from elsewhere on the machine
            # hits both alike; the figures are over the whole duration of each.
            runs = {"api": ([], 0, 0), "raw": ([], 0, 0)}
            slice_seconds = args.duration / args.slices
            for _ in range(args.slices):
                for mode, target, target_args in (
                    ("api", api_client_main, (api_port, key)),
                    ("raw", raw_client_main, (sink_port,)),
                ):
                    before = counter.value
                    got, failed = drive_once(target, target_args, clients, slice_seconds)
                    latencies, errors, delivered = runs[mode]
                    runs[mode] = (
                        latencies + got,
                        errors + failed,
                        delivered + counter.value - before,
                    )
            api = summarize(runs["api"][0], runs["api"][1], args.duration)
            api["delivered"] = runs["api"][2]
            raw = summarize(runs["raw"][0], runs["raw"][1], args.duration)
            raw["delivered"] = runs["raw"][2]
            rows.append((clients, api, raw))
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)
        sink.terminate()
        shutil.rmtree(data_dir, ignore_errors=True)

    print(
        f"\n{'clients':>7} {'mode':<8} {'req/s':>8} {'p50 ms':>8} {'p95 ms':>8} "
        f"{'ok':>7} {'errors':>6} {'in sink':>7}"
    )
    for clients, api, raw in rows:
        for mode, row in (("api", api), ("smtplib", raw)):
            print(
                f"{clients:>7} {mode:<8} {row['rate']:>8.1f} {row['p50']:>8.2f} "
                f"{row['p95']:>8.2f} {row['n']:>7} {row['errors']:>6} {row['delivered']:>7}"
            )
    print("\nratios (API / raw smtplib):")
    for clients, api, raw in rows:
        print(
            f"  {clients} client(s): rate {api['rate'] / raw['rate']:.2f}x, "
            f"p50 {api['p50'] - raw['p50']:+.2f} ms ({api['p50'] / raw['p50']:.2f}x), "
            f"p95 {api['p95'] - raw['p95']:+.2f} ms"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
