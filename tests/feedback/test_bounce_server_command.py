"""``manage.py bounce_server`` (API.md section 20): refuses to start without a bounce domain,
and as a real process records a DSN sent to it over SMTP."""

import os
import smtplib
import subprocess
import sys
import time

import pytest
from django.core.management import CommandError, call_command
from django.db import connection

from feedback.verp import verp_sender
from tests.factories import MessageFactory
from tests.feedback import dsn_samples
from tests.smtp_server import free_port

MANAGE_PY = os.path.join(os.path.dirname(__file__), "..", "..", "manage.py")
DOMAIN = "bounces.mailpass.test"


def test_it_refuses_to_start_without_a_bounce_domain(settings):
    settings.MAILPASS_BOUNCE_DOMAIN = ""
    with pytest.raises(CommandError, match="MAILPASS_BOUNCE_DOMAIN"):
        call_command("bounce_server", "--port", str(free_port()))


@pytest.mark.django_db(transaction=True)
def test_the_command_records_a_bounce_it_receives(alice, settings):
    if connection.vendor != "postgresql":
        pytest.skip("the child process needs the same server database (PostgreSQL)")
    settings.MAILPASS_BOUNCE_DOMAIN = DOMAIN
    message = MessageFactory(account=alice, to_email="jane@example.com", status="sent")
    db = connection.settings_dict
    port = free_port()
    env = {
        **os.environ,
        "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:"
        f"{db['PORT'] or 5432}/{db['NAME']}",
        "MAILPASS_BOUNCE_DOMAIN": DOMAIN,
        "SECRET_KEY": settings.SECRET_KEY,
        "CONN_MAX_AGE": "0",
    }
    process = subprocess.Popen(
        [sys.executable, MANAGE_PY, "bounce_server", "--host", "127.0.0.1", "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                client = smtplib.SMTP("127.0.0.1", port, timeout=10)
                break
            except OSError:
                if time.monotonic() > deadline or process.poll() is not None:
                    raise
                time.sleep(0.2)
        address = verp_sender(message.pk)
        with client:
            raw = dsn_samples.gmail(message, address, recipient="jane@example.com", dsn_id="cmd")
            client.sendmail("", [address], raw)
        message.refresh_from_db()
        assert message.status == "bounced"
        assert message.events.get().event_type == "bounced"
    finally:
        process.terminate()
        process.wait(timeout=10)
