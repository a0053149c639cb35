"""Benchmark of the SMTP relay against the batch API's enqueue rate, in one run (issue 13).

    python bench/relay.py [--duration 5] [--rounds 5] [--clients 4] [--workers 2] [--threads 4]
                          [--relay-processes 2]

What it does:
1. creates a fresh PostgreSQL database (``--database``, dropped first), migrates it, and makes a
   user, a live API key and a default SMTP provider (a counting sink in its own process);
2. starts the service under gunicorn and ``manage.py smtp_relay`` (AUTH without TLS, like the
   plain-HTTP API next to it), both with a Redis broker and no worker: an enqueue costs its
   database write and the kick of a drain (a publish), nothing is sent meanwhile;
3. in each round, for ``--duration`` seconds each, ``--clients`` client processes:
   - relay: smtplib, one connection each (AUTH once), one message after the other;
   - batch API: POST /send-batch with 100 messages a request (HTTP keep-alive);
   - batch API with 1 message a request (HTTP keep-alive);
   - and, for scale, the same relay clients against ``aiosmtpd`` that accepts every message at
     once and does nothing else (AUTH, MAIL, RCPT, DATA answered as the relay answers them, in
     as many processes as the relay): what the SMTP dialogue alone allows on this machine;
4. prints messages/s accepted by each (the median round, and every round), the ratios of each
   round and their medians, and the load average before and after (the machine is shared).

The baseline of the target (relay >= half of it) is the batch API used as it is meant to be,
100 messages a request: an application that can hand MailPass many messages at once and asks
"is SMTP at least half as fast as the API?" compares these two. SMTP has no batch: every
message is its own MAIL, RCPT and DATA, so the batch API with 1 message a request (the same
unit of work as one SMTP transaction) is reported next to it, for what it is, never instead.

The messages are what an application sends: a ~1 KB text + html message with a cc and a bcc;
each relay message is built like ``EmailMessage`` builds it (its own MIME boundary, Message-ID
and Date, and here its own To), so nothing the relay keeps from one message to the next is
flattered by identical input. Batch items carry their own ``to`` too. Messages are built
before the clock starts.
"""

import argparse
import http.client
import json
import multiprocessing as mp
import os
import shutil
import smtplib
import statistics
import sys
import tempfile
import time
from email import policy
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.harness import (  # noqa: E402  (run as a script from the repository root)
    PYTHON,
    Autoanalyze,
    Sink,
    database_recreate,
    free_port,
    gunicorn_start,
    process_group_stop,
    service_env,
    service_prepare,
    wait_for_port,
)

TEXT = "Your order has been confirmed.\n" + "Thank you for shopping with us.\n" * 12
HTML = "<h1>Your order has been confirmed</h1>" + "<p>Thank you for shopping with us.</p>" * 12
ITEM = {
    "to": "user@example.com",
    "cc": ["cc@example.com"],
    "bcc": ["bcc@example.com"],
    "subject": "Order Confirmation",
    "text": TEXT,
    "html": HTML,
    "from_email": "support@yourdomain.com",
    "from_name": "Your App",
    "tags": ["order"],
}


# Distinct messages each client cycles through (built before the clock starts).
VARIANTS = 200


def _mime(to: str = "user@example.com") -> bytes:
    """One message as an application builds it: its own boundary, Message-ID and Date."""
    mail = EmailMessage()
    mail["From"] = "Your App <support@yourdomain.com>"
    mail["To"] = to
    mail["Date"] = formatdate(localtime=True)
    mail["Message-ID"] = make_msgid(domain="yourdomain.com")
    mail["Cc"] = "cc@example.com"
    mail["Subject"] = "Order Confirmation"
    mail["X-MailPass-Tags"] = "order"
    mail.set_content(TEXT)
    mail.add_alternative(HTML, subtype="html")
    return mail.as_bytes(policy=policy.SMTP)  # CRLF line ends, as on the wire


def _client_main(target, *args) -> None:
    """Run a client; a failure is reported to the parent instead of leaving it waiting."""
    out = args[-1]
    try:
        target(*args)
    except Exception as exc:
        out.put(RuntimeError(repr(exc)))


def relay_client(port: int, key: str, duration: float, start, out) -> None:
    tag = os.getpid()
    messages = []
    for n in range(VARIANTS):
        to = f"user{tag}.{n}@example.com"
        messages.append(([to, "cc@example.com", "bcc@example.com"], _mime(to)))
    client = smtplib.SMTP("127.0.0.1", port, timeout=30)
    client.login("mailpass", key)
    start.wait()
    accepted, deadline = 0, time.perf_counter() + duration
    began = time.perf_counter()
    while time.perf_counter() < deadline:
        recipients, raw = messages[accepted % VARIANTS]
        client.sendmail("support@yourdomain.com", recipients, raw)  # raises unless 250
        accepted += 1
    out.put((accepted, time.perf_counter() - began))
    client.quit()


def batch_client(port: int, key: str, duration: float, size: int, start, out) -> None:
    tag = os.getpid()
    bodies = [
        json.dumps(
            {"messages": [{**ITEM, "to": f"user{tag}.{n}.{i}@example.com"} for i in range(size)]}
        )
        for n in range(max(1, VARIANTS // size))
    ]
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    start.wait()
    accepted, requests, deadline = 0, 0, time.perf_counter() + duration
    began = time.perf_counter()
    while time.perf_counter() < deadline:
        body = bodies[requests % len(bodies)]
        requests += 1
        connection.request("POST", "/api/v1/mail/send-batch", body=body, headers=headers)
        response = connection.getresponse()
        answer = json.loads(response.read())
        if response.status != 200 or answer["data"]["queued"] != size:
            raise RuntimeError(f"batch refused: {response.status} {answer}")
        accepted += size
    out.put((accepted, time.perf_counter() - began))


def _bare_smtp_main(port: int) -> None:
    """aiosmtpd answering like the relay (AUTH, 250 at DATA) with no work at all."""
    import asyncio
    import logging
    import warnings

    from aiosmtpd.smtp import SMTP, AuthResult

    logging.getLogger("mail.log").setLevel(logging.ERROR)
    warnings.simplefilter("ignore")

    class Handler:
        async def handle_DATA(self, server, session, envelope) -> str:
            return "250 2.0.0 queued as <bare@bench.invalid>"

    def accept(server, session, envelope, mechanism, auth_data) -> AuthResult:
        return AuthResult(success=True)

    def factory() -> SMTP:
        return SMTP(Handler(), auth_required=True, auth_require_tls=False, authenticator=accept)

    async def serve() -> None:
        loop = asyncio.get_running_loop()
        await loop.create_server(factory, "127.0.0.1", port, reuse_port=True)
        await asyncio.Event().wait()

    asyncio.run(serve())


def run_clients(ctx, clients: int, target, args: tuple) -> float:
    start, out = ctx.Barrier(clients + 1, timeout=60), ctx.Queue()
    workers = [
        ctx.Process(target=_client_main, args=(target, *args, start, out)) for _ in range(clients)
    ]
    for worker in workers:
        worker.start()
    start.wait()
    results = [out.get(timeout=300) for _ in workers]
    for worker in workers:
        worker.join()
    failures = [r for r in results if isinstance(r, BaseException)]
    if failures:
        raise RuntimeError(f"{len(failures)} client(s) failed: {failures[0]!r}")
    return sum(count for count, _ in results) / max(seconds for _, seconds in results)


def main() -> None:
    import subprocess

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=5.0)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers")
    parser.add_argument(
        "--relay-processes", type=int, default=2, help="smtp_relay --processes (as gunicorn's)"
    )
    parser.add_argument("--threads", type=int, default=4, help="gunicorn threads per worker")
    parser.add_argument(
        "--database",
        default=os.environ.get(
            "BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/mailpass_bench_relay"
        ),
    )
    parser.add_argument(
        "--redis", default=os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/8")
    )
    args = parser.parse_args()
    ctx = mp.get_context("spawn")
    data_dir = tempfile.mkdtemp(prefix="mailpass-bench-relay-")
    database_recreate(args.database)
    sink = Sink(ctx)
    env = service_env(args.database, data_dir, args.redis)
    # A broker and no worker: the kick after each enqueue is a publish, as in production.
    env.update(CELERY_BROKER_URL=args.redis, CELERY_TASK_ALWAYS_EAGER="false")
    env.update(MAILPASS_SMTP_RELAY_ALLOW_PLAIN_AUTH="true")
    key = service_prepare(env, sink.port)
    api_port, relay_port = free_port(), free_port()
    api = gunicorn_start(env, api_port, args.workers, args.threads)
    relay = subprocess.Popen(
        [
            PYTHON,
            "manage.py",
            "smtp_relay",
            "--port",
            str(relay_port),
            "--processes",
            str(args.relay_processes),
        ],
        cwd=ROOT,
        env=env,
        start_new_session=True,
        stdout=subprocess.DEVNULL,
    )
    bare_port = free_port()
    bare = [
        ctx.Process(target=_bare_smtp_main, args=(bare_port,), daemon=True)
        for _ in range(args.relay_processes)
    ]
    for process in bare:
        process.start()
    wait_for_port(relay_port)
    wait_for_port(bare_port)
    print(
        f"{args.clients} clients, {args.duration:g} s x {args.rounds} rounds; gunicorn "
        f"{args.workers} workers x {args.threads} threads; relay {args.relay_processes} "
        f"processes; database {args.database}; {os.cpu_count()} CPUs, load average "
        + " ".join(f"{x:.2f}" for x in os.getloadavg())
    )
    rates: dict[str, list[float]] = {"relay": [], "batch100": [], "batch1": [], "bare": []}
    analyze = Autoanalyze(args.database).start()  # says so when it analyzes
    try:
        for _ in range(args.rounds):
            rates["relay"].append(
                run_clients(ctx, args.clients, relay_client, (relay_port, key, args.duration))
            )
            rates["batch100"].append(
                run_clients(ctx, args.clients, batch_client, (api_port, key, args.duration, 100))
            )
            rates["batch1"].append(
                run_clients(ctx, args.clients, batch_client, (api_port, key, args.duration, 1))
            )
            rates["bare"].append(
                run_clients(ctx, args.clients, relay_client, (bare_port, key, args.duration))
            )
    finally:
        analyze.stop()
        for process in bare:
            process.terminate()
        process_group_stop(relay)
        process_group_stop(api)
        sink.stop()
        _broker_purge(args.redis)
        shutil.rmtree(data_dir, ignore_errors=True)

    labels = {
        "relay": "relay (smtplib, 1 connection each)",
        "batch100": "batch API, 100 messages/request",
        "batch1": "batch API, 1 message/request",
        "bare": "bare aiosmtpd, no work (SMTP alone)",
    }
    for name, label in labels.items():
        rounds = " ".join(f"{r:.0f}" for r in rates[name])
        print(
            f"{label:<36}: {statistics.median(rates[name]):7.0f} msgs/s median  (rounds: {rounds})"
        )
    for baseline, label, target in (
        ("batch100", "100/request", "  (target >= 0.50)"),
        ("batch1", "1/request  ", ""),
    ):
        ratios = [r / b for r, b in zip(rates["relay"], rates[baseline], strict=True)]
        rounds = " ".join(f"{r:.2f}" for r in ratios)
        print(
            f"ratio relay / batch API ({label}): {statistics.median(ratios):5.2f} median of "
            f"the rounds' ratios (rounds: {rounds}){target}"
        )
    for name, baseline, label in (
        ("relay", "bare", "relay / bare aiosmtpd           "),
        ("bare", "batch100", "bare aiosmtpd / batch API (100)"),
    ):
        ratios = [r / b for r, b in zip(rates[name], rates[baseline], strict=True)]
        print(f"ratio {label}: {statistics.median(ratios):5.2f} median of the rounds' ratios")
    print("load average after: " + " ".join(f"{x:.2f}" for x in os.getloadavg()))


def _broker_purge(redis_url: str) -> None:
    """Drop the drain kicks nobody consumed (the broker's queue is the key ``celery``)."""
    import redis

    redis.Redis.from_url(redis_url).delete("celery")


if __name__ == "__main__":
    main()
