"""Drill: the per-key API rate limit holds exactly across gunicorn worker processes (Redis)."""

import os
import threading
from collections import Counter

import pytest

pytestmark = [pytest.mark.drill, pytest.mark.slow]

STATUS_PATH = "/api/v1/mail/status/%3Cnever-sent%40mailpass.im%3E"


def test_the_rate_limit_is_exact_across_worker_processes(drill_factory):
    cache_url = os.environ.get("CACHE_URL", "")
    if not cache_url.startswith("redis://"):
        pytest.skip("needs Redis as the cache (CACHE_URL=redis://...)")
    drill = drill_factory(MAILPASS_API_RATE="25/day", CACHE_URL=cache_url, workers=3)
    statuses: Counter[int] = Counter()
    lock = threading.Lock()

    def hammer() -> None:
        for _ in range(10):
            answer = drill.service.request("GET", STATUS_PATH, key=drill.key)
            with lock:
                statuses[answer.status] += 1

    threads = [threading.Thread(target=hammer) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sum(statuses.values()) == 60
    assert statuses[429] == 35, statuses
