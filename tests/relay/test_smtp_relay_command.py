"""``manage.py smtp_relay``: says it is up (host, port, TLS, AUTH mode), serves, stops on TERM."""

import os
import signal
import smtplib
import subprocess
import sys

import pytest
from django.core.management import CommandError, call_command
from django.db import connection

from mail.models import Message
from tests.relay.conftest import simple_message
from tests.smtp_server import free_port, self_signed_certificate

pytestmark = pytest.mark.django_db(transaction=True)

MANAGE_PY = os.path.join(os.path.dirname(__file__), "..", "..", "manage.py")


def test_it_refuses_to_start_when_no_client_could_authenticate(settings):
    settings.MAILPASS_SMTP_RELAY_TLS_CERT = settings.MAILPASS_SMTP_RELAY_TLS_KEY = ""
    settings.MAILPASS_SMTP_RELAY_ALLOW_PLAIN_AUTH = False
    with pytest.raises(CommandError, match="MAILPASS_SMTP_RELAY_ALLOW_PLAIN_AUTH"):
        call_command("smtp_relay", "--port", str(free_port()))


def test_it_refuses_a_certificate_without_its_key(settings):
    settings.MAILPASS_SMTP_RELAY_TLS_CERT = self_signed_certificate()[0]
    settings.MAILPASS_SMTP_RELAY_TLS_KEY = ""
    with pytest.raises(CommandError, match="MAILPASS_SMTP_RELAY_TLS_KEY"):
        call_command("smtp_relay", "--port", str(free_port()))


@pytest.mark.skipif(connection.vendor != "postgresql", reason="the child process needs a server")
@pytest.mark.parametrize("processes", [1, 2])
def test_it_logs_that_it_is_up_serves_and_stops_on_term(
    alice, alice_key, alice_provider, processes
):
    db = connection.settings_dict
    cert, key = self_signed_certificate()
    env = dict(
        os.environ,
        DATABASE_URL=f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:"
        f"{db['PORT'] or 5432}/{db['NAME']}",
        MAILPASS_SMTP_RELAY_TLS_CERT=cert,
        MAILPASS_SMTP_RELAY_TLS_KEY=key,
        MAILPASS_SMTP_RELAY_ALLOW_PLAIN_AUTH="true",
        CELERY_TASK_ALWAYS_EAGER="false",
        CELERY_BROKER_URL="memory://",
    )
    port = free_port()
    process = subprocess.Popen(
        [
            sys.executable,
            MANAGE_PY,
            "smtp_relay",
            "--port",
            str(port),
            "--processes",
            str(processes),
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        line = process.stdout.readline()
        assert line.strip() == (
            f"SMTP relay up on 127.0.0.1:{port} "
            "(STARTTLS on; AUTH PLAIN/LOGIN offered with and without TLS"
            + ("; 2 processes)" if processes == 2 else ")")
        )
        for _ in range(6):  # several connections: with 2 processes, both take some
            client = smtplib.SMTP("127.0.0.1", port, timeout=10)
            client.login("mailpass", alice_key)
            client.sendmail("support@yourdomain.com", ["user@example.com"], simple_message())
            client.quit()
        assert Message.objects.filter(account=alice).count() == 6
    finally:
        process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=20)
    assert process.returncode == 0, err
    assert "SMTP relay stopped" in out
    assert "Traceback" not in err
