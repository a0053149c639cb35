"""Benchmark of the batch queue against Django's bare SMTP backend (issue 4).

    python bench/drain.py [--count 2000] [--profile DIR]

Run from the repository root with PostgreSQL on 127.0.0.1:5432 (``BENCH_DATABASE_URL`` points
elsewhere). It creates and migrates its own fresh database, starts a counting aiosmtpd sink in
its own process, and in one run measures:

1. enqueue: ``count`` messages through the batch endpoint's service (``batch_enqueue``, 100 per
   request, each request one transaction), the same including the per-item serializer, and
   the same with every item naming a stored template rendered per item (``batch_items_render``);
2. drain with one process, then (after queueing the same number again) with two processes;
3. Django's SMTP backend opened once, ``send_messages([m])`` per message, no database, to the
   same sink: the baseline a drainer is compared with.

Drainers are separate processes (spawned, Django set up before the clock starts). Every run
checks at the sink that each Message-ID arrived exactly once. With ``--profile DIR`` the single
drainer runs under pyinstrument and writes DIR/drain-1.html and DIR/drain-1.txt.
"""

import argparse
import collections
import multiprocessing
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.harness import Sink, database_recreate  # noqa: E402  (run as a script)

DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/mailpass_bench_drain"
# Client CPU per message (ms), per phase: what the drainer spends beyond the bare backend is
# its database work, whatever else runs on the box.
CPU_MS_PER_MESSAGE: dict[str, list[float]] = collections.defaultdict(list)
HTML = (
    "<html><body><h1>Your order has been confirmed</h1><p>{n}</p>"
    + "<p>x</p>" * 40
    + "</body></html>"
)


# --- Django in this process and in drainers ----------------------------------------------------


def _django_setup(database_url: str, data_dir: str) -> None:
    os.environ["DATABASE_URL"] = database_url
    os.environ["MAILPASS_DATA_DIR"] = data_dir
    os.environ["CELERY_BROKER_URL"] = ""
    os.environ["CELERY_TASK_ALWAYS_EAGER"] = "1"
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    os.environ["DJANGO_SETTINGS_MODULE"] = "mailpass.settings"
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()


def _drainer_main(database_url, data_dir, ready, start, results, profile_dir) -> None:
    _django_setup(database_url, data_dir)
    from django.db import connection

    import mail.queue.drain
    from mail.queue import queue_drain

    mail.queue.drain.PIPELINE = os.environ.get("BENCH_FINALIZE", "pipeline") != "sync"
    connection.ensure_connection()
    ready.set()
    start.wait()
    profiler = None
    if profile_dir:
        from pyinstrument import Profiler

        profiler = Profiler(interval=0.0005)
        profiler.start()
    began, cpu_began = time.perf_counter(), time.process_time()
    result = queue_drain()
    elapsed = time.perf_counter() - began
    cpu = time.process_time() - cpu_began
    if profiler is not None:
        profiler.stop()
        Path(profile_dir, "drain-1.html").write_text(profiler.output_html())
        Path(profile_dir, "drain-1.txt").write_text(profiler.output_text(show_all=False))
    results.put((result.sent, result.deferred, result.failed, elapsed, cpu))


# --- the measurements -------------------------------------------------------------------------


# The same message as a stored template (API.md s.13): rendered per item at enqueue time.
TEMPLATE = {
    "subject": "Order {{ order.id }}",
    "html": HTML.replace("{n}", "{{ order.id }}"),
    "text": "Your order {{ order.id }} has been confirmed",
}


def enqueue_run(*, account, count: int, validate: bool, template: bool = False) -> float:
    """Queue ``count`` messages, 100 per request; returns messages per second.

    With ``template`` each item names a stored template and its variables; every item is then
    validated and rendered as the batch endpoint does (``batch_items_render``).
    """
    from mail.queue import BatchItem, batch_enqueue
    from mail.serializers import MessageInputSerializer
    from templating.services import batch_items_render

    raw = [
        {
            "to": f"user{n}@example.com",
            **(
                {"template": "bench-order", "variables": {"order": {"id": str(n)}}}
                if template
                else {
                    "subject": f"Order {n}",
                    "html": HTML.format(n=n),
                    "text": f"Your order {n} has been confirmed",
                }
            ),
            "tags": ["order"],
            "metadata": {"order_id": str(n)},
        }
        for n in range(count)
    ]
    began = time.perf_counter()
    for offset in range(0, count, 100):
        items = []
        validator = MessageInputSerializer()  # one per request, as the batch endpoint does
        for index, data in enumerate(raw[offset : offset + 100]):
            if validate:
                data = validator.run_validation(data)
            items.append(BatchItem(index=index, to=data["to"], data=data))
        if template:
            batch_items_render(account=account, items=items)
            assert all(item.error is None for item in items), items[0].error
        batch_enqueue(account=account, items=items, is_test=False)
    return count / (time.perf_counter() - began)


def drain_run(*, ctx, processes: int, database_url: str, data_dir: str, profile_dir=None):
    """Drain everything queued with ``processes`` drainers; returns (msgs/s, sent, per process)."""
    from django.db import connections

    connections.close_all()  # never fork or spawn while holding a connection
    ready = [ctx.Event() for _ in range(processes)]
    start = ctx.Event()
    results = ctx.Queue()
    workers = [
        ctx.Process(
            target=_drainer_main,
            args=(
                database_url,
                data_dir,
                ready[i],
                start,
                results,
                profile_dir if i == 0 else None,
            ),
        )
        for i in range(processes)
    ]
    for worker in workers:
        worker.start()
    for event in ready:
        event.wait(timeout=60)
    began = time.perf_counter()
    start.set()
    outcomes = [results.get(timeout=600) for _ in workers]
    elapsed = time.perf_counter() - began
    for worker in workers:
        worker.join()
    sent = sum(o[0] for o in outcomes)
    CPU_MS_PER_MESSAGE[f"drain x{processes}"].append(1000 * sum(o[4] for o in outcomes) / sent)
    return sent / elapsed, sent, [o[0] for o in outcomes]


def backend_run(*, port: int, messages) -> float:
    """Django's SMTP backend, one connection, ``send_messages([m])`` each; no database."""
    from django.core.mail.backends.smtp import EmailBackend

    from mail.composer import email_build

    backend = EmailBackend(host="127.0.0.1", port=port, timeout=10, fail_silently=False)
    began, cpu_began = time.perf_counter(), time.process_time()
    backend.open()
    for message in messages:
        backend.send_messages([email_build(message)])
    backend.close()
    CPU_MS_PER_MESSAGE["backend"].append(1000 * (time.process_time() - cpu_began) / len(messages))
    return len(messages) / (time.perf_counter() - began)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=3, help="rounds (medians and bests shown)")
    parser.add_argument("--profile", metavar="DIR", help="profile the first single drainer")
    args = parser.parse_args()
    database_url = os.environ.get("BENCH_DATABASE_URL", DEFAULT_DATABASE_URL)
    data_dir = tempfile.mkdtemp(prefix="mailpass-bench-")
    ctx = multiprocessing.get_context("spawn")

    database_recreate(database_url)
    _django_setup(database_url, data_dir)
    from django.contrib.auth import get_user_model
    from django.core.management import call_command

    import mail.queue.enqueue
    from mail.models import Message
    from providers.models import Security, SmtpProvider
    from templating.models import Template

    call_command("migrate", verbosity=0)
    # Measure the write alone: in eager mode the kick would drain inside the enqueue.
    mail.queue.enqueue.queue_drain_kick = lambda **kwargs: None
    sink = Sink(ctx)
    account = get_user_model().objects.create(username="bench")
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
    Template.objects.create(account=account, name="bench-order", **TEMPLATE)
    count = args.count
    print(
        f"{count} messages x {args.rounds} rounds, sink on port {sink.port}, database {database_url}"
    )

    # Other processes on the box move single figures a lot: each phase runs --rounds times,
    # interleaved; a ratio compares phases of the same round, and its median over the rounds
    # is the figure (the best round of each phase is shown too).
    rates: dict[str, list[float]] = {
        k: [] for k in ("enqueue", "validated", "templated", "backend", "one", "two")
    }
    checks: list[tuple[str, tuple[int, int, int]]] = []
    splits = []
    for round_number in range(args.rounds):
        rates["templated"].append(
            enqueue_run(account=account, count=count, validate=True, template=True)
        )
        Message.objects.all().delete()
        rates["enqueue"].append(enqueue_run(account=account, count=count, validate=False))
        baseline_messages = list(Message.objects.order_by("pk"))
        rates["backend"].append(backend_run(port=sink.port, messages=baseline_messages))
        checks.append(("backend", sink.read()))
        one_rate, _, _ = drain_run(
            ctx=ctx,
            processes=1,
            database_url=database_url,
            data_dir=data_dir,
            profile_dir=args.profile if round_number == 0 else None,
        )
        rates["one"].append(one_rate)
        checks.append(("1 drainer", sink.read()))
        rates["validated"].append(enqueue_run(account=account, count=count, validate=True))
        two_rate, _, split = drain_run(
            ctx=ctx, processes=2, database_url=database_url, data_dir=data_dir
        )
        rates["two"].append(two_rate)
        splits.append(split)
        checks.append(("2 drainers", sink.read()))
    sink.stop()

    for name, (total, distinct, duplicated) in checks:
        ok = (total, distinct, duplicated) == (count, count, 0)
        print(
            f"sink check {name:<10}: {total} received, {distinct} distinct, "
            f"{duplicated} duplicated [{'ok' if ok else 'MISMATCH'}]"
        )
    best = {k: max(v) for k, v in rates.items()}
    median = {k: statistics.median(v) for k, v in rates.items()}

    def row(label: str, key: str, note: str = "") -> None:
        rounds = " ".join(f"{r:.0f}" for r in rates[key])
        print(
            f"{label:<28}: {best[key]:8.0f} msgs/s best, {median[key]:6.0f} median"
            f"  (rounds: {rounds}){note}"
        )

    row("enqueue (service)", "enqueue", "  target >= 3000")
    row("enqueue (+ item validation)", "validated")
    row("enqueue (templates, rendered)", "templated", "  target >= 1000")
    row("Django SMTP backend", "backend")
    row("drain, 1 process", "one")
    row("drain, 2 processes", "two", f"  split {splits}")
    print(f"sink CPU per message          : {min(sink.cpu_ms_per_message):.3f} ms (best phase)")
    for phase, values in CPU_MS_PER_MESSAGE.items():
        print(f"client CPU per message, {phase:<9}: {min(values):.3f} ms (best round)")
    # Each round's drainer against the backend measured just before it, in the same round.
    one = [o / b for o, b in zip(rates["one"], rates["backend"], strict=True)]
    two = [t / o for t, o in zip(rates["two"], rates["one"], strict=True)]

    def ratio(label: str, values: list[float], target: str) -> None:
        rounds = " ".join(f"{v:.2f}" for v in values)
        print(f"{label:<28}: {statistics.median(values):8.2f} median (rounds: {rounds})  {target}")

    ratio("ratio 1 drainer / backend", one, "target >= 0.90")
    ratio("ratio 2 drainers / 1 drainer", two, "target >= 1.00")
    print(f"ratio templated / validated : {best['templated'] / best['validated']:8.2f} (best)")
    print(f"load average at the end      : {' '.join(f'{x:.1f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
