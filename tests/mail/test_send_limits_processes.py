"""Send limits hold across processes: several gunicorn workers on one PostgreSQL database."""

import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from django.db import connection

from mail.models import Message

ROOT = Path(__file__).resolve().parents[2]
BODY = json.dumps({"to": "user@example.com", "subject": "Hello", "html": "<p>Hello World</p>"})


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def gunicorn_url(transactional_db):
    """The service under gunicorn (4 workers x 8 threads) on the test database."""
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL")
    db = connection.settings_dict
    port = free_port()
    env = {
        **os.environ,
        "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
        "MAILPASS_API_RATE": "100000/min",
        "LOG_LEVEL": "WARNING",
    }
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "mailpass.wsgi:application",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            "4",
            # Every request in flight at once: 4 processes x 8 threads.
            "--threads",
            "8",
            "--log-level",
            "warning",
        ],
        cwd=ROOT,
        env=env,
        start_new_session=True,
    )
    deadline = time.monotonic() + 30
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                break
        except OSError:
            if time.monotonic() > deadline or server.poll() is not None:
                os.killpg(server.pid, signal.SIGTERM)
                raise
            time.sleep(0.1)
    yield port
    os.killpg(server.pid, signal.SIGTERM)
    server.wait(timeout=30)


@pytest.mark.slow
def test_four_gunicorn_workers_with_thirty_requests_in_flight_send_exactly_the_limit(
    gunicorn_url, alice_key, alice_provider, smtp_server
):
    alice_provider.hourly_limit = 10
    alice_provider.save()
    start = threading.Barrier(30)

    def one_request(_):
        conn = http.client.HTTPConnection("127.0.0.1", gunicorn_url, timeout=30)
        start.wait(timeout=30)
        conn.request(
            "POST",
            "/api/v1/mail/send",
            BODY,
            {"Authorization": f"Bearer {alice_key}", "Content-Type": "application/json"},
        )
        response = conn.getresponse()
        status, headers = response.status, dict(response.getheaders())
        response.read()
        conn.close()
        return status, headers

    # Three rounds: a missing lock shows up as more than 10 sent in most single rounds.
    for _ in range(3):
        Message.objects.all().delete()
        smtp_server.clear()
        with ThreadPoolExecutor(max_workers=30) as pool:
            results = list(pool.map(one_request, range(30)))

        statuses = sorted(status for status, _ in results)
        assert statuses.count(200) == 10, statuses
        assert statuses.count(429) == 20, statuses
        assert all("Retry-After" in headers for status, headers in results if status == 429)
        assert Message.objects.count() == 10
        assert len(smtp_server.messages) == 10
