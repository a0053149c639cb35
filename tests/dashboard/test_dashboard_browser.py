"""A real browser: an account owner logs in and reads the dashboard.

Headless Chromium (Debian's, from .ci/install-browser) driven by Playwright. The numbers on the
page must equal what the owner sent through the API, and another account's mail must not be
counted. Screenshots at 1400x900, light and dark, land in tmp (and in docs/ with
MAILPASS_UPDATE_SCREENSHOTS=1).
"""

import os
from pathlib import Path

import pytest
from django.contrib.auth.models import Permission

from tests.factories import SmtpProviderFactory, UserFactory, api_key_for

CHROMIUM = Path("/usr/bin/chromium")
DOCS = Path(__file__).resolve().parents[2] / "docs"

pytestmark = [
    pytest.mark.skipif(not CHROMIUM.exists(), reason="Chromium is not installed"),
    pytest.mark.slow,
]


def owner(username: str, password: str):
    user = UserFactory(username=username, is_staff=True)
    user.set_password(password)
    user.save()
    user.user_permissions.set(
        Permission.objects.filter(content_type__app_label__in=["mail", "providers", "accounts"])
    )
    return user


def card_value(page, metric: str) -> int:
    return int(page.inner_text(f'[data-metric="{metric}"] .mp-card-value'))


def send(client, key: str, to: str, *, html: bool = True) -> None:
    body = {"to": to, "subject": "Order 1", "html" if html else "text": "<p>Thanks</p>"}
    response = client.post(
        "/api/v1/mail/send", body, format="json", HTTP_AUTHORIZATION=f"Bearer {key}"
    )
    assert response.status_code in (200, 500), response.content


@pytest.mark.django_db(transaction=True)
def test_an_owner_logs_in_and_sees_exactly_their_own_mail(live_server, smtp_server, api_client):
    from playwright.sync_api import sync_playwright

    alice = owner("alice", "alice-password-1")
    bob = owner("bob", "bob-password-1")
    SmtpProviderFactory(account=alice, host=smtp_server.host, port=smtp_server.port, name="Main")
    SmtpProviderFactory(account=bob, host=smtp_server.host, port=smtp_server.port)
    smtp_server.behaviour.rcpt_replies["gone@example.com"] = "550 5.7.1 Rejected"
    alice_key, bob_key = api_key_for(alice), api_key_for(bob)
    for i in range(4):
        send(api_client, alice_key, f"reader{i}@example.com")
    send(api_client, alice_key, "gone@example.com")
    for i in range(7):
        send(api_client, bob_key, f"bob-reader{i}@example.com")

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM),
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
            ],
        )
        try:
            for scheme in ("light", "dark"):
                page = browser.new_page(
                    viewport={"width": 1400, "height": 900}, color_scheme=scheme
                )
                page.goto(f"{live_server.url}/admin/login/?next=/admin/")
                page.fill("#id_username", "alice")
                page.fill("#id_password", "alice-password-1")
                page.click("input[type=submit]")
                page.wait_for_selector("#mp-dashboard")

                assert card_value(page, "sent") == 4
                assert card_value(page, "failed") == 1
                assert "20.0% of handled" in page.inner_text('[data-metric="failed"]')
                assert "bob-reader" not in page.content()
                assert "gone@example.com" in page.inner_text('[aria-label="Latest problems"]')
                shot = page.screenshot(full_page=False)
                target = Path(os.environ.get("MAILPASS_SCREENSHOT_DIR", "/tmp"))
                if os.environ.get("MAILPASS_UPDATE_SCREENSHOTS") == "1":
                    target = DOCS
                (target / f"dashboard-{scheme}.png").write_bytes(shot)
                page.close()
        finally:
            browser.close()
