"""Per-key API request rate limit: protects the service itself (429 RATE_LIMITED).

Not DRF's ``SimpleRateThrottle``: it keeps, per key, the list of every request's timestamp in
one cache entry and rewrites it on each request (read, trim, write back). At the 1200/min default
that entry holds up to 1200 floats that every request reads and writes, and two processes that
read it at the same time each write back their own list, so concurrent requests are lost from the
count: the limit leaks exactly under the load it is meant to stop (measured against Redis with 16
threads x 10 requests and a limit of 50: it let all 160 through; this counter lets exactly 50).

This is a fixed-window counter instead: one integer per key and window, created with
an atomic INCR in Redis (with its expiry, in one script: one round trip), so gunicorn workers on
several hosts share one exact count. The price of
fixed windows is that a client can spend its allowance at the end of one window and again at the
start of the next (up to twice the rate over a window's length, never more): fine for a guard
against runaway clients. ``Retry-After`` is the time left in the current window.

If the cache itself is unreachable the request is let through (and logged): a Redis outage
must not take the API down with it (the database is the truth, the limit is a protection).
"""

import logging
import math
import time
from collections.abc import Callable

from django.conf import settings
from django.core.cache import cache, caches
from django.core.cache.backends.redis import RedisCache
from django.core.exceptions import ImproperlyConfigured
from rest_framework.throttling import BaseThrottle

from accounts.models import ApiKey

logger = logging.getLogger(__name__)

_PERIODS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def api_rate_parse(rate: str) -> tuple[int, int]:
    """``"1200/min"`` -> (1200, 60). Periods: s(ec), m(in), h(our), d(ay), as in DRF."""
    try:
        count, period = rate.split("/")
        requests = int(count)
        seconds = _PERIODS[period.strip()[0].lower()]
    except (ValueError, KeyError, IndexError) as exc:
        raise ImproperlyConfigured(
            f"MAILPASS_API_RATE must look like '1200/min' (requests/s|min|hour|day), not {rate!r}"
        ) from exc
    if requests < 1:
        raise ImproperlyConfigured("MAILPASS_API_RATE must allow at least 1 request.")
    return requests, seconds


# INCR and EXPIRE in one atomic step (the counter's name holds its window, so refreshing its
# expiry on each request is harmless).
_INCR_WITH_EXPIRY = """
local count = redis.call('INCR', KEYS[1])
redis.call('EXPIRE', KEYS[1], ARGV[1])
return count
"""
# Per Redis connection pool: the registered script (and its client). A pipeline or a client
# object made per request costs more CPU than the round trip: each copies redis-py's table of
# response callbacks.
_scripts: dict[int, tuple[object, Callable[..., int]]] = {}


def _window_count_incr(key: str, *, timeout: int) -> int:
    """Count one more request in a window's counter and return the count.

    On Redis this is one round trip: a script that runs INCR and EXPIRE atomically (EVALSHA).
    Other caches: ``add`` then ``incr`` (Django's Redis ``incr`` alone would cost EXISTS +
    INCRBY). The entry outlives its window a little so a late increment never finds it gone.
    """
    backend = caches["default"]
    if isinstance(backend, RedisCache):
        redis_key = backend.make_and_validate_key(key)
        pool = backend._cache._get_connection_pool(write=True)
        known = _scripts.get(id(pool))
        if known is None or known[0] is not pool:
            client = backend._cache._client(connection_pool=pool)
            known = _scripts[id(pool)] = (pool, client.register_script(_INCR_WITH_EXPIRY))
        return int(known[1](keys=[redis_key], args=[timeout]))
    cache.add(key, 0, timeout=timeout)
    return cache.incr(key)


CACHE_PREFIX = "throttle:api_key"


def api_key_rate_count(*, api_key_id: int) -> float | None:
    """Count one request of this key; None when it is within ``MAILPASS_API_RATE``, else the
    seconds until its window ends. The SMTP relay counts each message with it too."""
    num_requests, duration = api_rate_parse(settings.MAILPASS_API_RATE)
    now = time.time()
    window = int(now // duration)
    key = f"{CACHE_PREFIX}:{api_key_id}:{duration}:{window}"
    try:
        count = _window_count_incr(key, timeout=duration + 5)
    except Exception as exc:  # the cache is down: let the request through
        logger.warning("API rate limit skipped, cache unavailable: %s", type(exc).__name__)
        return None
    if count <= num_requests:
        return None
    return (window + 1) * duration - now


class ApiKeyRateThrottle(BaseThrottle):
    """At most ``MAILPASS_API_RATE`` requests per API key and window (fixed window)."""

    def __init__(self) -> None:
        self._wait: float | None = None

    def allow_request(self, request, view) -> bool:
        api_key = request.auth
        if not isinstance(api_key, ApiKey):
            return True  # anonymous requests are refused by authentication, not counted here
        self._wait = api_key_rate_count(api_key_id=api_key.pk)
        return self._wait is None

    def wait(self) -> float | None:
        # Whole seconds, at least 1: the exception handler writes it as Retry-After.
        return None if self._wait is None else max(1, math.ceil(self._wait))
