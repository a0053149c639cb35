"""Benchmark: POST /api/v1/mail/send with 1,000,000 suppression entries against an empty list.

    python bench/suppression.py [--entries 1000000] [--duration 20] [--clients 4]

The suppression check is one query on the unique (account, email) index, so its cost must not
grow with the list (issue 11: ratio >= 0.95). In one run, against one gunicorn and one SMTP sink:
1. a fresh PostgreSQL database (``--database``, dropped first), migrated, with two accounts, each
   with a live key and a default provider pointing at the sink: ``empty`` (no entries) and
   ``full`` (``--entries`` entries, written server-side with ``generate_series``, then ANALYZE);
2. the same /send (to, one cc, one bcc; none of them suppressed, so the lookup misses: the
   common case, and the one that walks the index the deepest) is driven for each account in
   ``--slices`` alternating slices, so other load on the machine hits both alike;
3. prints requests/s, p50 and p95 of each and the ratio full / empty.
"""

import argparse
import multiprocessing as mp
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

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
    wait_for_port,
)
from bench.send_api import api_client_main, drive_once, summarize  # noqa: E402

SETUP_SCRIPT = """
import django
django.setup()
from accounts.services import api_key_create, account_get_or_create
from providers.services import provider_create
for name in ("empty", "full"):
    user = account_get_or_create(username=name, create=True)
    provider_create(account=user, name="sink", host="127.0.0.1", port={port}, security="none",
                    from_email="support@yourdomain.com", from_name="Your App", make_default=True)
    print(name, user.pk, api_key_create(account=user).plain_key)
"""

FILL_SQL = """
INSERT INTO suppressions_suppression (account_id, email, reason, detail, created_at, message_id)
SELECT %(account)s, 'user' || g || '@list.example',
       (ARRAY['hard_bounce', 'complaint', 'manual', 'unsubscribe'])[1 + g %% 4], '',
       now() - g * interval '1 second', NULL
FROM generate_series(1, %(entries)s) AS g
"""


def prepare(env: dict[str, str], sink_port: int, database: str, entries: int) -> dict[str, str]:
    run = {"cwd": ROOT, "env": env, "check": True, "capture_output": True, "text": True}
    subprocess.run([PYTHON, "manage.py", "migrate", "--noinput"], **run)
    setup_env = {**env, "DJANGO_SETTINGS_MODULE": "mailpass.settings"}
    out = subprocess.run(
        [PYTHON, "-c", SETUP_SCRIPT.format(port=sink_port)], **{**run, "env": setup_env}
    )
    keys, accounts = {}, {}
    for line in out.stdout.strip().splitlines()[-2:]:
        name, pk, key = line.split()
        keys[name], accounts[name] = key, int(pk)
    import psycopg

    started = time.perf_counter()
    with psycopg.connect(database, autocommit=True) as conn:
        conn.execute(FILL_SQL, {"account": accounts["full"], "entries": entries})
        conn.execute("ANALYZE suppressions_suppression")
        count = conn.execute(
            "SELECT count(*) FROM suppressions_suppression WHERE account_id = %s",
            (accounts["full"],),
        ).fetchone()[0]
    print(f"filled {count:,} entries in {time.perf_counter() - started:.1f} s")
    return keys


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entries", type=int, default=1_000_000)
    parser.add_argument("--duration", type=float, default=20.0, help="seconds per account")
    parser.add_argument("--slices", type=int, default=10)
    parser.add_argument("--clients", type=int, default=4, help="client processes")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn worker processes")
    parser.add_argument("--threads", type=int, default=2, help="threads per gunicorn worker")
    parser.add_argument(
        "--database",
        default=os.environ.get(
            "BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/mailpass_bench_suppression"
        ),
        help="PostgreSQL URL of a database the benchmark may DROP and recreate",
    )
    parser.add_argument("--cache", default=os.environ.get("BENCH_CACHE_URL", ""))
    args = parser.parse_args()
    if not args.cache:
        try:
            wait_for_port(6379, timeout=0.5)
            args.cache = "redis://127.0.0.1:6379/14"
        except RuntimeError:
            args.cache = "locmemcache://bench"

    api_port = free_port()
    sink = Sink(mp.get_context())
    data_dir = tempfile.mkdtemp(prefix="mailpass-bench-")
    database_recreate(args.database)
    env = service_env(args.database, data_dir, args.cache)
    keys = prepare(env, sink.port, args.database, args.entries)
    server = gunicorn_start(env, api_port, args.workers, args.threads)
    print(
        f"gunicorn 127.0.0.1:{api_port} ({args.workers} workers x {args.threads} threads); "
        f"{args.clients} clients; {args.duration:g} s per account in {args.slices} slices"
    )
    runs = {name: ([], 0) for name in ("empty", "full")}
    try:
        for name in runs:  # warm both accounts' paths (connections, caches)
            drive_once(api_client_main, (api_port, keys[name], False), args.clients, 1.0)
        slice_seconds = args.duration / args.slices
        for _ in range(args.slices):
            for name in runs:
                got, failed = drive_once(
                    api_client_main, (api_port, keys[name], False), args.clients, slice_seconds
                )
                latencies, errors = runs[name]
                runs[name] = (latencies + got, errors + failed)
        delivered = sink.read()[0]
    finally:
        process_group_stop(server)
        sink.stop()
        shutil.rmtree(data_dir, ignore_errors=True)

    summary = {name: summarize(lat, err, args.duration) for name, (lat, err) in runs.items()}
    print(f"\n{'list':<22} {'req/s':>8} {'p50 ms':>8} {'p95 ms':>8} {'ok':>7} {'errors':>6}")
    labels = {"empty": "empty", "full": f"{args.entries:,} entries"}
    for name, row in summary.items():
        print(
            f"{labels[name]:<22} {row['rate']:>8.1f} {row['p50']:>8.2f} {row['p95']:>8.2f} "
            f"{row['n']:>7} {row['errors']:>6}"
        )
    ratio = summary["full"]["rate"] / summary["empty"]["rate"] if summary["empty"]["rate"] else 0
    print(f"\nratio full / empty: {ratio:.3f} (target >= 0.95); messages in the sink: {delivered}")
    return 0 if ratio >= 0.95 else 1


if __name__ == "__main__":
    raise SystemExit(main())
