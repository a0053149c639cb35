"""Benchmark of a limited single send's INSERT under concurrency: the provider's lock held
through the commit's disk flush, or released before it (``flush_apart``).

    python bench/limited_insert.py [--clients 8] [--duration 5] [--rounds 3]

What it does:
1. creates a fresh PostgreSQL database (``--database``, dropped first), migrates it, and
   makes one account with two providers: one with hourly and daily send limits (never
   reached), one without;
2. in each round, for ``--duration`` seconds each, ``--clients`` processes insert messages as
   a single send does (``mail.services.message_insert``: status ``sending``, a send-limit
   stamp, in autocommit), in three modes, alternating:
   - ``unlimited``: through the provider without limits (no lock: the baseline);
   - ``limited, flush in the commit``: through the limited provider, the INSERT's commit
     waiting for its WAL flush with the provider's lock and the bucket's row held;
   - ``limited, flush apart``: the same, the INSERT committed without waiting for the disk
     and the flush waited for by a statement of its own (what ``message_send`` does);
3. prints each mode's INSERTs per second (every round and the median) and the ratios of the
   limited modes to the unlimited one, per round and their median.

Only the database's side of a send: no HTTP, no SMTP. It shows what a provider's lock costs
its senders when they all send through it at once, which ``bench/send_api.py``'s ``checks``
variant mixes with everything else a request does.
"""

import argparse
import multiprocessing as mp
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.harness import database_recreate, database_settle  # noqa: E402

MODES = ("unlimited", "limited, flush in the commit", "limited, flush apart")


def _django(database_url: str) -> None:
    os.environ["DATABASE_URL"] = database_url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mailpass.settings")
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    import django

    django.setup()


def _prepare(database_url: str) -> tuple[int, int, int]:
    """Migrate; the account and its two providers (ids)."""
    _django(database_url)
    from django.core.management import call_command

    from accounts.services import account_get_or_create
    from providers.services import provider_create

    call_command("migrate", verbosity=0)
    account = account_get_or_create(username="bench", create=True)
    common = dict(
        account=account,
        host="127.0.0.1",
        port=25,
        security="none",
        from_email="support@yourdomain.com",
        from_name="Your App",
    )
    unlimited = provider_create(name="unlimited", make_default=True, **common)
    limited = provider_create(
        name="limited", hourly_limit=1_000_000_000, daily_limit=1_000_000_000, **common
    )
    return account.pk, unlimited.pk, limited.pk


def _client(database_url, account_id, provider_id, flush_apart, duration, ready, go, results):
    _django(database_url)
    from email.utils import make_msgid

    from django.db import connection
    from django.utils import timezone

    from mail.models import Message
    from mail.services import message_insert

    connection.ensure_connection()
    ready.put(1)
    go.wait()
    count = 0
    deadline = time.monotonic() + duration
    while time.monotonic() < deadline:
        message = Message(
            account_id=account_id,
            provider_id=provider_id,
            message_id=make_msgid(domain="mailpass.bench"),
            from_email="support@yourdomain.com",
            to_email="user@example.com",
            subject="Order Confirmation",
            text="Your order has been confirmed.",
            status="sending",
            limit_counted_at=timezone.now(),
        )
        message_insert(message, flush_apart=flush_apart)
        count += 1
    results.put(count)


def _measure(context, database_url, account_id, provider_id, flush_apart, clients, duration):
    """INSERTs per second of ``clients`` processes (spawned: no inherited connection)."""
    ready, go, results = context.Queue(), context.Event(), context.Queue()
    processes = [
        context.Process(
            target=_client,
            args=(database_url, account_id, provider_id, flush_apart, duration, ready, go, results),
        )
        for _ in range(clients)
    ]
    for process in processes:
        process.start()
    for _ in processes:
        ready.get()  # every process set up and connected
    go.set()
    total = sum(results.get() for _ in processes)
    for process in processes:
        process.join()
    return total / duration


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--duration", type=float, default=5.0, help="seconds per mode and round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--database",
        default=os.environ.get(
            "BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/mailpass_bench_limited"
        ),
        help="PostgreSQL URL of a database the benchmark may DROP and recreate",
    )
    args = parser.parse_args()

    database_recreate(args.database)
    context = mp.get_context("spawn")
    with context.Pool(1) as pool:
        account_id, unlimited_id, limited_id = pool.apply(_prepare, (args.database,))
    database_settle(args.database)
    print(f"{args.clients} clients, {args.rounds} rounds of {args.duration:g} s per mode")

    setups = {
        MODES[0]: (unlimited_id, False),
        MODES[1]: (limited_id, False),
        MODES[2]: (limited_id, True),
    }
    rates: dict[str, list[float]] = {mode: [] for mode in MODES}
    for number in range(1, args.rounds + 1):
        for mode in MODES:
            provider_id, flush_apart = setups[mode]
            rates[mode].append(
                _measure(
                    context,
                    args.database,
                    account_id,
                    provider_id,
                    flush_apart,
                    args.clients,
                    args.duration,
                )
            )
        print(
            f"round {number}: "
            + ", ".join(f"{mode} {rates[mode][-1]:.0f}/s" for mode in MODES)
            + f" (load average {os.getloadavg()[0]:.2f})"
        )
    print("\nINSERTs per second, median of the rounds, and the ratio to unlimited per round:")
    for mode in MODES:
        ratios = [rate / base for rate, base in zip(rates[mode], rates[MODES[0]], strict=True)]
        print(
            f"  {mode:30s}: {statistics.median(rates[mode]):7.0f}/s   ratio median "
            f"{statistics.median(ratios):.2f} (rounds {', '.join(f'{r:.2f}' for r in ratios)})"
        )


if __name__ == "__main__":
    main()
