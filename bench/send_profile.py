"""Profile one POST /api/v1/mail/send in-process: where the time of a request goes.

    python bench/send_profile.py [--requests 2000] [--variant plain|keyed|checks|tracking] [--top 30]
                                 [--status]

No HTTP server and no client processes: the WSGI application is called directly (the same
middleware, DRF and service code gunicorn runs), against a fresh PostgreSQL database and a
counting SMTP sink in its own process. It prints, per request: wall time and CPU time (p50),
the SQL statements and their round trips (with their share of the wall time), then the cProfile
listing of the heaviest functions (cumulative). docs/performance.md records its output before
and after the send path's rework.

``--status`` profiles GET /api/v1/mail/status/{id} instead, of a message sent first (with its
``sent`` event).

Variants (the accounts of ``bench/send_api.py``): ``plain`` (no limits, no Idempotency-Key),
``keyed`` (1,000 suppression entries, an Idempotency-Key per request, no limits), ``checks``
(the same and hourly and daily limits on the provider), ``tracking`` (opens and clicks
tracked).
"""

import argparse
import cProfile
import io
import json
import multiprocessing as mp
import os
import pstats
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.harness import (  # noqa: E402  (run as a script from the repository root)
    KEYED_VARIANTS,
    ROOT,
    VARIANTS,
    Sink,
    database_recreate,
    service_env,
    service_prepare,
    service_prepare_variants,
)
from bench.send_api import MESSAGE, MESSAGE_TRACKED  # noqa: E402


def wsgi_environ(
    body: bytes, key: str, idempotency_key: str | None, path: str = "/api/v1/mail/send"
) -> dict:
    environ = {
        "REQUEST_METHOD": "POST" if body else "GET",
        "PATH_INFO": path,
        "SCRIPT_NAME": "",
        "QUERY_STRING": "",
        "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": "8000",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "127.0.0.1",
        "CONTENT_TYPE": "application/json",
        "CONTENT_LENGTH": str(len(body)),
        "HTTP_HOST": "127.0.0.1",
        "HTTP_AUTHORIZATION": f"Bearer {key}",
        "wsgi.input": io.BytesIO(body),
        "wsgi.url_scheme": "http",
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": True,
        "wsgi.multiprocess": True,
        "wsgi.run_once": False,
    }
    if idempotency_key is not None:
        environ["HTTP_IDEMPOTENCY_KEY"] = idempotency_key
    return environ


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--variant", choices=VARIANTS, default="plain")
    parser.add_argument("--top", type=int, default=30, help="functions listed by cProfile")
    parser.add_argument(
        "--clock",
        choices=("cpu", "wall"),
        default="cpu",
        help="what cProfile measures: CPU time (steady on a busy machine) or wall time",
    )
    parser.add_argument("--sort", default="cumulative", help="pstats order: cumulative, tottime")
    parser.add_argument("--only", default="", help="a regular expression: list matching functions")
    parser.add_argument("--no-cprofile", action="store_true", help="the timings only")
    parser.add_argument("--status", action="store_true", help="profile the status lookup")
    parser.add_argument(
        "--database",
        default=os.environ.get(
            "BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/mailpass_bench_profile"
        ),
        help="PostgreSQL URL of a database the benchmark may DROP and recreate",
    )
    parser.add_argument(
        "--cache", default=os.environ.get("BENCH_CACHE_URL", "redis://127.0.0.1:6379/14")
    )
    args = parser.parse_args()

    sink = Sink(mp.get_context())
    data_dir = tempfile.mkdtemp(prefix="mailpass-profile-")
    database_recreate(args.database)
    env = service_env(args.database, data_dir, args.cache)
    service_prepare(env, sink.port)
    key = service_prepare_variants(env, sink.port)[args.variant]
    os.environ.update(env)
    os.environ["DJANGO_SETTINGS_MODULE"] = "mailpass.settings"
    try:
        return _profile(args, key, sink)
    finally:
        sink.stop()
        shutil.rmtree(data_dir, ignore_errors=True)


def _profile(args, key: str, sink: Sink) -> int:
    import django

    django.setup()
    from django.core.handlers.wsgi import WSGIHandler
    from django.db import connection

    application = WSGIHandler()
    body = json.dumps(MESSAGE_TRACKED if args.variant == "tracking" else MESSAGE).encode()

    statements: list[float] = []
    labels: list[str] = []

    def timed(execute, sql, params, many, context):
        started = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            statements.append(time.perf_counter() - started)
            labels.append(" ".join(sql.split())[:60])

    status_path = None

    per_statement: dict[str, list[float]] = {}

    def one(index: int) -> tuple[float, float, int, float]:
        idempotency_key = f"profile-{index}" if args.variant in KEYED_VARIANTS else None
        if status_path is None:
            environ = wsgi_environ(body, key, idempotency_key)
        else:
            environ = wsgi_environ(b"", key, None, status_path)
        statements.clear()
        labels.clear()
        wall, cpu = time.perf_counter(), time.process_time()
        status_line = []
        result = application(environ, lambda status, headers: status_line.append(status))
        b"".join(result)
        result.close()
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        if not status_line[0].startswith("200"):
            raise SystemExit(f"{environ['PATH_INFO']} answered {status_line[0]}")
        for label, seconds in zip(labels, statements, strict=True):
            per_statement.setdefault(label, []).append(seconds)
        return wall, cpu, len(statements), sum(statements)

    if args.status:
        from mail.models import Message

        one(-1)
        status_path = "/api/v1/mail/status/" + Message.objects.latest("id").message_id
    with connection.execute_wrapper(timed):
        for index in range(200):  # warm up: imports, connections, caches
            one(-index - 1)
        rows = [one(index) for index in range(args.requests)]
        clock = time.process_time if args.clock == "cpu" else time.perf_counter
        profiler = cProfile.Profile(clock)
        if not args.no_cprofile:
            profiler.enable()
            for index in range(args.requests, args.requests + min(args.requests, 1000)):
                one(index)
            profiler.disable()
    # Django's WSGI handler ran request_finished, which may close the connection: reopen.
    walls = sorted(r[0] for r in rows)
    cpus = sorted(r[1] for r in rows)
    queries = statistics.median(r[2] for r in rows)
    sql = statistics.median(r[3] for r in rows)
    delivered = sink.read()[0]
    print(
        f"{'status of a message of' if args.status else 'send,'} variant {args.variant}: "
        f"{len(rows)} requests in-process (no HTTP); delivered "
        f"{delivered} (incl. warm-up and profiled)"
    )
    print(
        f"per request: wall p50 {statistics.median(walls) * 1000:.2f} ms, "
        f"p95 {walls[int(len(walls) * 0.95)] * 1000:.2f} ms; CPU p50 "
        f"{statistics.median(cpus) * 1000:.2f} ms; SQL statements {queries:g} "
        f"({sql * 1000:.2f} ms wall, {100 * sql / statistics.median(walls):.0f} % of the request)"
    )
    print("statements (median wall each, as the application waits for it):")
    for label, times in per_statement.items():
        if len(times) >= len(rows) // 2:
            print(f"  {statistics.median(times) * 1000:6.3f} ms  {label}")
    if args.no_cprofile:
        return 0
    _print_by_package(profiler)
    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out)
    stats.sort_stats(args.sort).print_stats(*([args.only] if args.only else []), args.top)
    print(out.getvalue())
    return 0


def _print_by_package(profiler: cProfile.Profile) -> None:
    """Own time (tottime) summed by where the code lives: which layer the CPU goes to."""
    stats = pstats.Stats(profiler).stats
    total = sum(row[2] for row in stats.values()) or 1.0
    by_package: dict[str, float] = {}
    for (filename, _, _), row in stats.items():
        path = filename.replace(os.sep, "/")
        if "site-packages/" in path:
            parts = path.split("site-packages/", 1)[1].split("/")
            package = "/".join(parts[:2]) if parts[0] in ("django", "rest_framework") else parts[0]
        elif "/lib/python3" in path:
            package = "stdlib/" + path.rsplit("/lib/python3", 1)[1].split("/", 2)[1]
        elif path.startswith(str(ROOT)):
            package = "mailpass:" + path[len(str(ROOT)) + 1 :].split("/", 1)[0]
        else:
            package = path  # built-ins: "~" and "<...>"
        by_package[package] = by_package.get(package, 0.0) + row[2]
    print("own time by package (share of the profiled time):")
    for package, seconds in sorted(by_package.items(), key=lambda item: -item[1])[:25]:
        print(f"  {100 * seconds / total:5.1f} %  {package}")
    print()


if __name__ == "__main__":
    sys.exit(main())
