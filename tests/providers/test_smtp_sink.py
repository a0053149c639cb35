import smtplib
from email.message import EmailMessage
from io import StringIO

import pytest

from providers.sink import sink_start
from tests.smtp_server import free_port


@pytest.fixture
def sink(tmp_path):
    out = StringIO()
    controller = sink_start(
        host="127.0.0.1", port=free_port(), directory=tmp_path / "sink", out=out
    )
    yield controller, out, tmp_path / "sink"
    controller.stop()


def a_message() -> EmailMessage:
    message = EmailMessage()
    message["From"] = "support@example.com"
    message["To"] = "user@example.com"
    message["Subject"] = "Order Confirmation"
    message["Message-ID"] = "<abc123.1706600000@mailpass.im>"
    message.set_content("Your order has been confirmed")
    return message


def test_the_sink_prints_each_message_and_keeps_the_raw_file(sink):
    controller, out, folder = sink
    with smtplib.SMTP(controller.hostname, controller.port, timeout=5) as client:
        client.send_message(a_message(), to_addrs=["user@example.com", "bcc@example.com"])
    printed = out.getvalue()
    assert "from:       support@example.com" in printed
    assert "to:         user@example.com, bcc@example.com" in printed
    assert "subject:    Order Confirmation" in printed
    assert "message-id: <abc123.1706600000@mailpass.im>" in printed
    [saved] = folder.glob("*.eml")
    assert b"Your order has been confirmed" in saved.read_bytes()
    assert saved.name.endswith("abc123.1706600000_mailpass.im.eml")


def test_the_sink_accepts_any_login(sink):
    controller, out, folder = sink
    with smtplib.SMTP(controller.hostname, controller.port, timeout=5) as client:
        client.login("anyone", "anything")
        client.send_message(a_message())
    assert len(list(folder.glob("*.eml"))) == 1


def test_the_sink_refuses_a_port_in_use(sink, tmp_path):
    controller, _, _ = sink
    with pytest.raises(OSError):
        sink_start(host="127.0.0.1", port=controller.port, directory=tmp_path, out=StringIO())


def test_the_sink_command_reports_a_port_in_use(sink, tmp_path):
    from django.core.management import CommandError, call_command

    controller, _, _ = sink
    with pytest.raises(CommandError, match="cannot listen"):
        call_command("smtp_sink", "--port", str(controller.port), "--dir", str(tmp_path))
