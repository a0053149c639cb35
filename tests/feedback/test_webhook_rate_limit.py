"""Event URLs are rate-limited per provider token, so a flood cannot fill the database."""

import types

import pytest

from feedback.selectors import provider_webhook_url
from tests.factories import SmtpProviderFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def mid_window_clock(monkeypatch):
    """A fixed clock in the middle of a minute: the window cannot roll over mid-test."""
    monkeypatch.setattr("feedback.views.time", types.SimpleNamespace(time=lambda: 1_800_000_030.0))


def test_requests_over_the_rate_are_429_with_retry_after(
    client, settings, alice, bob, mid_window_clock
):
    settings.MAILPASS_FEEDBACK_RATE = "3/min"
    provider = SmtpProviderFactory(account=alice, kind="sendgrid")
    url = provider_webhook_url(provider).removeprefix(settings.MAILPASS_PUBLIC_URL)
    answers = [
        client.post(url, b"[]", content_type="application/json").status_code for _ in range(4)
    ]
    assert answers == [200, 200, 200, 429]
    limited = client.post(url, b"[]", content_type="application/json")
    assert limited.json()["error"]["code"] == "RATE_LIMITED"
    assert limited["Retry-After"] == "30"
    # Another provider's URL has its own allowance.
    other = SmtpProviderFactory(account=bob, kind="sendgrid")
    other_url = provider_webhook_url(other).removeprefix(settings.MAILPASS_PUBLIC_URL)
    assert client.post(other_url, b"[]", content_type="application/json").status_code == 200
