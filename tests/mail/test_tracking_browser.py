"""A real browser opens the email that arrived: headless Chromium loads the pixel.

Skips only when /usr/bin/chromium is missing (CI installs it with .ci/install-browser).
"""

import re
import subprocess
import tempfile
from pathlib import Path

import pytest

from mail.models import EventType, Message, MessageEvent

CHROMIUM = Path("/usr/bin/chromium")

pytestmark = [
    pytest.mark.skipif(not CHROMIUM.exists(), reason="Chromium is not installed"),
    pytest.mark.slow,
]

HTML = (
    "<html><head><title>Your order</title></head><body><h1>Your order</h1>"
    '<p><a href="https://shop.example/orders/1">See it</a></p></body></html>'
)


def chromium_major_version() -> str:
    output = subprocess.run(
        [str(CHROMIUM), "--version"], capture_output=True, text=True, timeout=60
    ).stdout
    return re.search(r"(\d+)\.\d+\.\d+", output).group(1)


def chromium_load(url: str) -> str:
    """Load a page in a fresh headless Chromium until its load event (images included)."""
    with tempfile.TemporaryDirectory(prefix="mailpass-chromium-") as profile:
        result = subprocess.run(
            [
                str(CHROMIUM),
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                f"--user-data-dir={profile}",
                "--dump-dom",
                url,
            ],
            capture_output=True,
            text=True,
            timeout=90,
        )
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout


@pytest.mark.django_db(transaction=True)
def test_chromium_opening_the_received_html_records_an_open_with_its_user_agent(
    live_server, settings, alice_client, alice_provider, smtp_server, tmp_path
):
    settings.MAILPASS_PUBLIC_URL = live_server.url
    response = alice_client.post(
        "/api/v1/mail/send",
        {"to": "reader@example.com", "subject": "Your order", "html": HTML},
        format="json",
    )
    assert response.status_code == 200, response.json()
    message_id = response.json()["data"]["message_id"]
    (received,) = smtp_server.by_message_id(message_id)
    html = received.parsed.get_body(preferencelist=("html",)).get_content()
    assert f"{live_server.url}/t/o/" in html
    page = tmp_path / "received.html"
    page.write_text(html, encoding="utf-8")

    dom = chromium_load(page.as_uri())

    assert "Your order" in dom
    message = Message.objects.get(message_id=message_id)
    (event,) = MessageEvent.objects.filter(message=message, event_type=EventType.OPEN)
    assert f"Chrome/{chromium_major_version()}." in event.user_agent
    assert "HeadlessChrome" in event.user_agent
    assert event.ip_address == "127.0.0.1"
    status = alice_client.get(f"/api/v1/mail/status/{message_id}").json()["data"]
    assert [e["event_type"] for e in status["events"]] == ["sent", "open"]
    assert status["events"][1]["user_agent"] == event.user_agent
