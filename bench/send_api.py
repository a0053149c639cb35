"""Benchmark POST /api/v1/mail/send against raw smtplib, in one run, to the same SMTP sink.

    python bench/send_api.py [--duration 6] [--rounds 3] [--clients 1,8]
                             [--variants plain,keyed,checks,tracking] [--attachment]
                             [--workers 4] [--threads 2]

What it does (see docs/performance.md):
1. starts a counting aiosmtpd sink in its own process on a free loopback port;
2. creates a fresh PostgreSQL database (``--database``, dropped first), migrates it, and makes
   one account per variant, each with a live API key and a default SMTP provider pointing at
   the sink (``bench.harness.service_prepare_variants``):
   - ``plain``: the message below, no send limits, no Idempotency-Key (the suppression check
     runs on every send anyway, against an empty list);
   - ``keyed``: 1,000 suppression entries and an Idempotency-Key on every request (the
     suppression and idempotency checks in the path), no send limits;
   - ``checks``: the same, and hourly and daily send limits on the provider (each send counts
     its windows under the provider's lock);
   - ``tracking``: the same message with a link, open and click tracking on;
3. starts the service under gunicorn on loopback;
4. runs ``--rounds`` rounds; in each, for each client count, every mode runs for
   ``--duration`` seconds with that many client processes (HTTP keep-alive for the API, one
   SMTP connection per message for raw smtplib, the same message), the modes alternating in
   ``--slices`` slices so that other load on the machine hits all of them alike;
5. prints each round's requests/s, p50 and p95 per mode, then per variant and client count the
   ratio API / raw smtplib of every round and their median (the figure to quote: a 2-core
   machine shared with other work is noisy, and the ratio is measured in the same slices).

``--attachment`` adds the plain message with one 100 KiB attachment (random bytes, base64 in
the JSON body; a MIME attachment for smtplib) and its own raw baseline.

Clients are processes, not threads, so the load generator is not serialized on one GIL.
"""

import argparse
import base64
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
from email.message import EmailMessage
from email.utils import formataddr, formatdate, make_msgid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.harness import (  # noqa: E402  (run as a script from the repository root)
    KEYED_VARIANTS,
    VARIANTS,
    Autoanalyze,
    Sink,
    database_recreate,
    database_settle,
    free_port,
    gunicorn_start,
    process_group_stop,
    service_env,
    service_prepare,
    service_prepare_variants,
    wait_for_port,
)

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


# Random bytes do not compress: the worst case for the base64 and MIME work.
ATTACHMENT = os.urandom(100 * 1024)
MESSAGE_WITH_ATTACHMENT = {
    **MESSAGE,
    "attachments": [{"filename": "invoice.pdf", "content": base64.b64encode(ATTACHMENT).decode()}],
}
# The tracking variant: a link to rewrite and a pixel to add.
MESSAGE_TRACKED = {
    **MESSAGE,
    "html": '<h1>Your order has been confirmed</h1><p><a href="https://shop.example/o/12345">'
    "See your order</a></p>",
    "track_opens": True,
    "track_clicks": True,
}


# --- the clients ------------------------------------------------------------------------------


def api_client_main(
    port: int, key: str, attachment: bool, duration: float, start_at: float, results
) -> None:
    """POST /send with the plain message (or with the attachment) for ``duration`` seconds."""
    api_variant_client_main(
        port, key, "attachment" if attachment else "plain", duration, start_at, results
    )


def api_variant_client_main(
    port: int, key: str, variant: str, duration: float, start_at: float, results
) -> None:
    message = {"attachment": MESSAGE_WITH_ATTACHMENT, "tracking": MESSAGE_TRACKED}.get(
        variant, MESSAGE
    )
    body = json.dumps(message).encode()
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
    latencies: list[float] = []
    errors = 0
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    while time.time() < start_at:
        time.sleep(0.001)
    end = time.perf_counter() + duration
    sent = 0
    while time.perf_counter() < end:
        started = time.perf_counter()
        if variant in KEYED_VARIANTS:  # a new key per request: each is claimed and answered
            sent += 1
            headers["Idempotency-Key"] = f"{os.getpid()}-{start_at}-{sent}"
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


def raw_message(attachment: bool) -> bytes:
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
    if attachment:
        message.add_attachment(
            ATTACHMENT, maintype="application", subtype="pdf", filename="invoice.pdf"
        )
    return message.as_bytes(policy=message.policy.clone(linesep="\r\n"))


def raw_client_main(port: int, attachment: bool, duration: float, start_at: float, results) -> None:
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
                smtp.sendmail(MESSAGE["from_email"], recipients, raw_message(attachment))
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
    parser.add_argument("--duration", type=float, default=6.0, help="seconds per mode and round")
    parser.add_argument("--rounds", type=int, default=3, help="rounds (the median is reported)")
    parser.add_argument("--clients", default="1,8", help="comma-separated client counts")
    parser.add_argument(
        "--variants",
        default=",".join(VARIANTS),
        help=f"comma-separated, of {', '.join(VARIANTS)}",
    )
    parser.add_argument(
        "--attachment", action="store_true", help="also the plain message with a 100 KiB file"
    )
    parser.add_argument(
        "--slices", type=int, default=3, help="alternate the modes this many times per round"
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
    variants = [v for v in args.variants.split(",") if v]
    unknown = set(variants) - set(VARIANTS)
    if unknown:
        parser.error(f"unknown variants: {', '.join(sorted(unknown))}")

    api_port = free_port()
    sink = Sink(mp.get_context())
    sink_port = sink.port
    data_dir = tempfile.mkdtemp(prefix="mailpass-bench-")
    database_recreate(args.database)
    env = service_env(args.database, data_dir, args.cache)
    plain_key = service_prepare(env, sink_port)
    keys = service_prepare_variants(env, sink_port)
    database_settle(args.database)
    server = gunicorn_start(env, api_port, args.workers, args.threads)
    print(
        f"sink 127.0.0.1:{sink_port}; gunicorn 127.0.0.1:{api_port} "
        f"({args.workers} workers x {args.threads} threads, cache {args.cache}); "
        f"{args.rounds} rounds of {args.duration:g} s per mode in {args.slices} alternating "
        f"slices; load average at start {os.getloadavg()[0]:.2f}"
    )
    modes = [("raw", raw_client_main, (sink_port, False))]
    modes += [(v, api_variant_client_main, (api_port, keys[v], v)) for v in variants]
    if args.attachment:
        modes += [
            ("raw+att", raw_client_main, (sink_port, True)),
            ("attachment", api_variant_client_main, (api_port, plain_key, "attachment")),
        ]
    # rounds[i][clients][mode] = summary
    rounds: list[dict[int, dict[str, dict]]] = []
    analyze = Autoanalyze(args.database).start()  # says so when it analyzes
    try:
        for variant in variants:  # warm every worker's code path and connections
            drive_once(
                api_variant_client_main,
                (api_port, keys[variant], variant),
                args.workers * args.threads,
                1.0,
            )
        for number in range(1, args.rounds + 1):
            this_round: dict[int, dict[str, dict]] = {}
            for clients in client_counts:
                runs = {mode: ([], 0, 0) for mode, _, _ in modes}
                slice_seconds = args.duration / args.slices
                for _ in range(args.slices):
                    for mode, target, target_args in modes:
                        sink.read()
                        got, failed = drive_once(target, target_args, clients, slice_seconds)
                        latencies, errors, delivered = runs[mode]
                        runs[mode] = (
                            latencies + got,
                            errors + failed,
                            delivered + sink.read()[0],
                        )
                summary = {}
                for mode, (latencies, errors, delivered) in runs.items():
                    summary[mode] = summarize(latencies, errors, args.duration)
                    summary[mode]["delivered"] = delivered
                this_round[clients] = summary
            rounds.append(this_round)
            _print_round(number, this_round, os.getloadavg()[0])
    finally:
        analyze.stop()
        process_group_stop(server)
        sink.stop()
        shutil.rmtree(data_dir, ignore_errors=True)

    print("\nratios API / raw smtplib (same slices), per round, and their median:")
    for clients in client_counts:
        for mode, _, _ in modes:
            if mode.startswith("raw"):
                continue
            baseline = "raw+att" if mode == "attachment" else "raw"
            ratios = [r[clients][mode]["rate"] / r[clients][baseline]["rate"] for r in rounds]
            rates = [r[clients][mode]["rate"] for r in rounds]
            raw_rates = [r[clients][baseline]["rate"] for r in rounds]
            p50s = [r[clients][mode]["p50"] for r in rounds]
            raw_p50s = [r[clients][baseline]["p50"] for r in rounds]
            print(
                f"  {clients} client(s) {mode:<10}: median {statistics.median(ratios):.2f}x "
                f"(rounds {', '.join(f'{x:.2f}' for x in ratios)}); "
                f"{statistics.median(rates):.1f} req/s vs {statistics.median(raw_rates):.1f}/s, "
                f"p50 {statistics.median(p50s):.2f} ms vs {statistics.median(raw_p50s):.2f} ms"
            )
    return 0


def _print_round(number: int, this_round: dict[int, dict[str, dict]], load: float) -> None:
    print(f"\nround {number} (load average {load:.2f})")
    print(
        f"{'clients':>7} {'mode':<10} {'req/s':>8} {'p50 ms':>8} {'p95 ms':>8} "
        f"{'ok':>7} {'errors':>6} {'in sink':>7}"
    )
    for clients, summary in this_round.items():
        for mode, row in summary.items():
            print(
                f"{clients:>7} {mode:<10} {row['rate']:>8.1f} {row['p50']:>8.2f} "
                f"{row['p95']:>8.2f} {row['n']:>7} {row['errors']:>6} {row['delivered']:>7}"
            )


if __name__ == "__main__":
    sys.exit(main())
