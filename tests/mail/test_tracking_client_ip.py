"""The reader's IP: REMOTE_ADDR, or X-Forwarded-For only through the trusted proxies."""

import pytest

from mail.models import MessageEvent
from mail.tracking import open_token_make, tracking_client_ip
from tests.factories import MessageFactory


@pytest.fixture
def pixel(alice) -> str:
    return f"/t/o/{open_token_make(MessageFactory(account=alice).pk)}.gif"


@pytest.mark.django_db
def test_x_forwarded_for_is_ignored_with_zero_trusted_proxies(client, pixel, settings):
    settings.MAILPASS_TRUSTED_PROXY_COUNT = 0
    client.get(pixel, REMOTE_ADDR="198.51.100.7", HTTP_X_FORWARDED_FOR="203.0.113.50")
    assert MessageEvent.objects.get().ip_address == "198.51.100.7"


@pytest.mark.django_db
def test_x_forwarded_for_is_honoured_with_one_trusted_proxy(client, pixel, settings):
    settings.MAILPASS_TRUSTED_PROXY_COUNT = 1
    # The client claims 1.2.3.4; our proxy appended the address it really saw.
    client.get(pixel, REMOTE_ADDR="10.0.0.2", HTTP_X_FORWARDED_FOR="1.2.3.4, 203.0.113.50")
    assert MessageEvent.objects.get().ip_address == "203.0.113.50"


@pytest.mark.parametrize(
    ("trusted", "forwarded", "expected"),
    [
        (0, "203.0.113.50", "10.0.0.2"),
        (1, "203.0.113.50", "203.0.113.50"),
        (1, "1.2.3.4,203.0.113.50", "203.0.113.50"),
        (2, "1.2.3.4, 203.0.113.50, 10.0.0.1", "203.0.113.50"),
        (2, "203.0.113.50", "10.0.0.2"),  # fewer hops than proxies: not trustworthy
        (1, "", "10.0.0.2"),
        (1, "not-an-ip", "10.0.0.2"),
        (1, "2001:db8::7", "2001:db8::7"),
        (-1, "203.0.113.50", "10.0.0.2"),
        ("abc", "203.0.113.50", "10.0.0.2"),
        (None, "203.0.113.50", "10.0.0.2"),
        (True, "203.0.113.50", "10.0.0.2"),
        ("1", "203.0.113.50", "203.0.113.50"),
    ],
)
def test_client_ip_rules(settings, trusted, forwarded, expected):
    settings.MAILPASS_TRUSTED_PROXY_COUNT = trusted
    meta = {"REMOTE_ADDR": "10.0.0.2", "HTTP_X_FORWARDED_FOR": forwarded}
    assert tracking_client_ip(meta) == expected


def test_an_unusable_remote_addr_is_no_ip(settings):
    settings.MAILPASS_TRUSTED_PROXY_COUNT = 0
    assert tracking_client_ip({"REMOTE_ADDR": ""}) is None
    assert tracking_client_ip({}) is None
