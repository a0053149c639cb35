"""What the benchmarks share: ports, a fresh database, the service under gunicorn, and a
counting SMTP sink in its own process that records every Message-ID it receives.

Used by ``send_api.py``, ``drain.py`` and ``load.py`` (run each from the repository root).
"""

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable


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


def database_recreate(database_url: str) -> None:
    """DROP (forcing out any session) and CREATE the database named by the URL."""
    import psycopg

    base, _, name = database_url.rpartition("/")
    with psycopg.connect(f"{base}/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')


def database_settle(database_url: str) -> None:
    """VACUUM ANALYZE and CHECKPOINT the prepared database before measuring.

    A fresh database has no statistics until autovacuum's first pass (a minute or more into
    a run), and the statements planned before it (prepared ones included) are planned for
    empty tables; the DROP and CREATE DATABASE also leave a checkpoint to come. Both made the
    first rounds of a run slower than the last, and only the API's side of the ratio.
    Analyzed here, the tables are empty, and where autovacuum is off (as on the 2-core bench
    machine) the planner believes so for the whole run: the send path's plans must hold
    with those statistics (a provider's send-limit windows were once counted by reading all
    its messages; ``tests/mail/test_send_limit_buckets.py`` analyzes an empty table too).
    """
    import psycopg

    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE")
        conn.execute("CHECKPOINT")


class Autoanalyze:
    """While a run measures, ``ANALYZE`` the database every ``interval`` seconds, as
    autovacuum's automatic analyze would, if the server has autovacuum off (as the 2-core
    bench machine's PostgreSQL has); with it on, nothing.

    Without any analyze, a plan made while a table was small stays in use on a kept
    connection until the connection goes (up to ``CONN_MAX_AGE``): a foreign-key check
    planned as a sequential scan of a one-page ``mail_message`` reads every message, on every
    INSERT that references one. Measured in ``bench/relay.py``'s database: 2,180 sequential
    scans of ``mail_message`` reading 15.3 million rows in one run. An analyze invalidates
    the plans of the tables it updates, as in a database run with PostgreSQL's defaults.
    """

    def __init__(self, database_url: str, interval: float = 10.0) -> None:
        import threading

        self.database_url = database_url
        self.interval = interval
        self._stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.active = False

    def start(self) -> "Autoanalyze":
        import psycopg

        with psycopg.connect(self.database_url, autocommit=True) as conn:
            self.active = conn.execute("SHOW autovacuum").fetchone()[0] == "off"
        if self.active:
            print(
                f"autovacuum is off: the database is analyzed every {self.interval:g} s while "
                "the run measures"
            )
            self.thread.start()
        return self

    def _run(self) -> None:
        import psycopg

        with psycopg.connect(self.database_url, autocommit=True) as conn:
            while not self._stop.wait(self.interval):
                conn.execute("ANALYZE")

    def stop(self) -> None:
        self._stop.set()
        if self.active:
            self.thread.join(60)


# --- the counting sink (its own process) ------------------------------------------------------


def _sink_main(port_queue, command_pipe) -> None:
    import collections
    import threading

    from aiosmtpd.controller import Controller

    counts: collections.Counter = collections.Counter()
    lock = threading.Lock()

    class Handler:
        async def handle_DATA(self, server, session, envelope):
            content = envelope.original_content or envelope.content
            start = content.find(b"Message-ID:")
            end = content.find(b"\r\n", start)
            with lock:
                counts[content[start + 11 : end].strip().decode()] += 1
            return "250 2.0.0 OK"

    port = free_port()
    controller = Controller(Handler(), hostname="127.0.0.1", port=port)
    controller.start()
    port_queue.put(port)
    while True:
        command = command_pipe.recv()
        if command == "stop":
            break
        with lock:
            snapshot = dict(counts)
            if command == "reset":
                counts.clear()
        if command == "ids":
            command_pipe.send(snapshot)
            continue
        command_pipe.send(
            (
                sum(snapshot.values()),
                len(snapshot),
                sum(1 for c in snapshot.values() if c > 1),
                time.process_time(),
            )
        )
    controller.stop()


class Sink:
    """aiosmtpd on a free loopback port, in a process of its own, accepting everything."""

    def __init__(self, ctx) -> None:
        port_queue = ctx.Queue()
        self._pipe, child_pipe = ctx.Pipe()
        self.process = ctx.Process(target=_sink_main, args=(port_queue, child_pipe), daemon=True)
        self.process.start()
        self.port = port_queue.get(timeout=30)
        self._cpu = 0.0
        self.cpu_ms_per_message: list[float] = []

    def read(self, *, reset: bool = True) -> tuple[int, int, int]:
        """(messages, distinct Message-IDs, ids seen more than once); by default, then start
        counting anew.

        Also notes the sink's own CPU per message since the last read: when it nears the time
        per message of a phase, the sink is the bottleneck, not the sender.
        """
        self._pipe.send("reset" if reset else "read")
        total, distinct, duplicated, cpu = self._pipe.recv()
        if total:
            self.cpu_ms_per_message.append(1000 * (cpu - self._cpu) / total)
        self._cpu = cpu
        return total, distinct, duplicated

    def message_ids(self) -> dict[str, int]:
        """Every Message-ID received (with the angle brackets) and how many times."""
        self._pipe.send("ids")
        return self._pipe.recv()

    def stop(self) -> None:
        self._pipe.send("stop")
        self.process.join(timeout=10)


# --- the service ------------------------------------------------------------------------------


def service_env(database_url: str, data_dir: str, cache_url: str) -> dict[str, str]:
    """The environment of the service's processes (no broker: tasks run in the web process)."""
    env = dict(os.environ)
    env.update(
        DATABASE_URL=database_url,
        MAILPASS_DATA_DIR=data_dir,
        CACHE_URL=cache_url,
        # The per-key API rate limit protects the service; the benchmarks measure past it.
        MAILPASS_API_RATE="100000000/min",
        LOG_LEVEL="WARNING",
        DEBUG="0",
        PYTHONPATH=str(ROOT),
    )
    env.pop("CELERY_BROKER_URL", None)
    return env


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
    """gunicorn in a session of its own (stop it with ``process_group_stop``)."""
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


def process_group_stop(process, timeout: float = 30.0) -> None:
    """SIGTERM the process's session (started with ``start_new_session``), then SIGKILL."""
    import signal

    if process.poll() is not None:
        return
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=timeout)


# --- variants of the send path ----------------------------------------------------------------

# The accounts of ``service_prepare_variants``: what the send path does beyond the plain send.
VARIANTS = ("plain", "keyed", "checks", "tracking")
# The variants whose clients send an Idempotency-Key (a new one per request).
KEYED_VARIANTS = ("keyed", "checks")

VARIANTS_SCRIPT = """
import django
django.setup()
from django.db import connection
from accounts.services import api_key_create, account_get_or_create
from providers.services import provider_create
for variant in {variants!r}:
    user = account_get_or_create(username="bench-" + variant, create=True)
    limits = dict(hourly_limit=10**9, daily_limit=10**9) if variant == "checks" else {{}}
    provider_create(account=user, name="sink", host="127.0.0.1", port={port}, security="none",
                    from_email="support@yourdomain.com", from_name="Your App", make_default=True,
                    **limits)
    if variant in ("keyed", "checks"):
        with connection.cursor() as cursor:
            cursor.execute(
                "INSERT INTO suppressions_suppression (account_id, email, reason, detail, "
                "created_at) SELECT %s, 'gone' || g || '@example.com', 'hard_bounce', '', now() "
                "FROM generate_series(1, 1000) AS g",
                [user.pk],
            )
    print(variant, api_key_create(account=user).plain_key)
"""


def service_prepare_variants(env: dict[str, str], sink_port: int) -> dict[str, str]:
    """An account, live key and default provider (at the sink) per variant; their keys.

    ``plain``: no limits. ``keyed``: 1,000 suppression entries (none of the benchmark's
    recipients) and its clients send an Idempotency-Key, no limits. ``checks``: the same and
    hourly and daily limits far above what a run sends (so every send counts its windows under
    the provider's lock). ``tracking``: its clients ask for open and click tracking. Call after
    ``service_prepare`` (migrated).
    """
    env = {**env, "DJANGO_SETTINGS_MODULE": "mailpass.settings"}
    script = VARIANTS_SCRIPT.format(variants=VARIANTS, port=sink_port)
    out = subprocess.run(
        [PYTHON, "-c", script], cwd=ROOT, env=env, check=True, capture_output=True, text=True
    )
    keys = dict(line.split(" ", 1) for line in out.stdout.strip().splitlines()[-len(VARIANTS) :])
    return keys
