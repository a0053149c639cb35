"""Per-key API request rate limit: 429 RATE_LIMITED with Retry-After (API.md section 2)."""

import threading
from types import SimpleNamespace

import pytest
from rest_framework.test import APIClient

from accounts import throttling
from accounts.models import ApiKey
from accounts.throttling import ApiKeyRateThrottle
from tests.factories import api_key_for
from tests.smtp_server import free_port

STATUS_PATH = "/api/v1/mail/status/abc@mailpass.im"


@pytest.fixture(autouse=True)
def _mid_window_clock(monkeypatch) -> None:
    """A fixed clock 30 s into a minute, an hour and 08:00 into a day: no window rolls over
    between a test's requests, whenever the suite runs. Tests may move it themselves."""
    monkeypatch.setattr(throttling.time, "time", lambda: 1_800_000_030.0)


def client_for(key: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    return client


def test_it_answers_429_rate_limited_with_retry_after_once_a_key_is_over_the_rate(
    settings, alice_client
):
    settings.MAILPASS_API_RATE = "3/min"
    for _ in range(3):
        assert alice_client.get(STATUS_PATH).status_code != 429
    response = alice_client.get(STATUS_PATH)
    assert response.status_code == 429
    body = response.json()
    assert body["success"] is False
    assert body["error"]["code"] == "RATE_LIMITED"  # the service's guard, not SEND_LIMIT_EXCEEDED
    assert body["error"]["details"] == {}
    assert response["Retry-After"].isdigit()
    assert 1 <= int(response["Retry-After"]) <= 60


def test_it_counts_each_key_on_its_own(settings, alice, bob, alice_client):
    settings.MAILPASS_API_RATE = "2/min"
    for _ in range(3):
        alice_client.get(STATUS_PATH)
    assert alice_client.get(STATUS_PATH).status_code == 429
    assert client_for(api_key_for(alice)).get(STATUS_PATH).status_code != 429
    assert client_for(api_key_for(bob)).get(STATUS_PATH).status_code != 429


def test_it_takes_the_rate_from_the_setting(settings, alice_client):
    settings.MAILPASS_API_RATE = "5/hour"
    statuses = [alice_client.get(STATUS_PATH).status_code for _ in range(6)]
    assert statuses.count(429) == 1 and statuses[-1] == 429
    assert 60 < int(alice_client.get(STATUS_PATH)["Retry-After"]) <= 3600


def test_it_lets_requests_through_again_in_the_next_window(settings, monkeypatch, alice_client):
    settings.MAILPASS_API_RATE = "2/min"
    clock = [1_800_000_030.0]  # 30 s into a minute
    monkeypatch.setattr(throttling.time, "time", lambda: clock[0])
    for _ in range(2):
        assert alice_client.get(STATUS_PATH).status_code != 429
    limited = alice_client.get(STATUS_PATH)
    assert limited.status_code == 429
    assert limited["Retry-After"] == "30"
    clock[0] += 30
    assert alice_client.get(STATUS_PATH).status_code != 429


def test_it_does_not_count_requests_without_a_valid_key(settings, api_client, alice_client):
    settings.MAILPASS_API_RATE = "1/min"
    for _ in range(3):
        assert api_client.get(STATUS_PATH).status_code == 401
    assert alice_client.get(STATUS_PATH).status_code != 429


def test_it_counts_exactly_under_concurrency(settings, alice, alice_key):
    settings.MAILPASS_API_RATE = "50/day"
    request = SimpleNamespace(auth=ApiKey.objects.get(account=alice))
    allowed: list[bool] = []
    lock = threading.Lock()

    def hammer() -> None:
        for _ in range(10):
            result = ApiKeyRateThrottle().allow_request(request, None)
            with lock:
                allowed.append(result)

    threads = [threading.Thread(target=hammer) for _ in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(allowed) == 160
    assert allowed.count(True) == 50


@pytest.mark.parametrize("rate", ["1200", "x/min", "10/fortnight", "0/min"])
def test_it_refuses_a_malformed_rate(rate):
    from django.core.exceptions import ImproperlyConfigured

    with pytest.raises(ImproperlyConfigured):
        throttling.api_rate_parse(rate)


def test_it_lets_requests_through_when_the_cache_is_down(settings, alice_client):
    settings.MAILPASS_API_RATE = "1/min"
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": f"redis://127.0.0.1:{free_port()}/0",
        }
    }
    for _ in range(3):
        response = alice_client.get(STATUS_PATH)
        assert response.status_code not in (429, 500), response.content
