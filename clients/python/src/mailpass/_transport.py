"""HTTP: the Bearer key, the envelope, errors as exceptions, and retries that never send twice.

What is retried, and why it is safe:
- 429 (RATE_LIMITED, SEND_LIMIT_EXCEEDED) and 503 (SERVICE_UNAVAILABLE): the server did nothing
  (API.md section 2: a 429 sends and stores nothing, a 503 writes nothing half-way). The wait is
  the server's ``Retry-After``; one longer than ``max_retry_wait`` is not waited for (a provider's
  hourly limit can be an hour away): the error is raised at once.
- 409 IDEMPOTENCY_CONFLICT with ``details.in_progress``: the first request with this key is still
  running; asking again after ``Retry-After`` gets its answer.
- No connection (refused, connect timeout): nothing reached the server.
- The connection dropped or timed out after the request went out: the server may have acted.
  Retried only when repeating it cannot act twice: GET/PUT/DELETE, requests the caller marks
  safe (cancel), and sends, which carry one ``Idempotency-Key`` for all their attempts so the
  server answers a repeat with the first answer instead of sending again.
"""

from __future__ import annotations

import os
import random
import time
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import quote

import httpx

from mailpass import __version__
from mailpass.errors import APIConnectionError, APIError, error_class, retry_after_seconds

DEFAULT_BASE_URL = "http://127.0.0.1:8000"
IDEMPOTENCY_HEADER = "Idempotency-Key"
SAFE_METHODS = frozenset({"GET", "HEAD", "PUT", "DELETE", "OPTIONS"})
RETRY_STATUSES = frozenset({429, 503})
# Raised before any byte of the request reached the server.
_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)


def path_segment(value: str | int) -> str:
    """One path segment, percent-encoded (``<a@b>`` -> ``%3Ca%40b%3E``)."""
    return quote(str(value), safe="")


def base_url_resolve(base_url: str | None) -> str:
    return (base_url or os.environ.get("MAILPASS_BASE_URL") or DEFAULT_BASE_URL).rstrip("/")


def retry_delay(
    *,
    attempt: int,
    max_retries: int,
    max_retry_wait: float,
    response: httpx.Response | None = None,
    error: Exception | None = None,
    repeatable: bool,
) -> float | None:
    """Seconds to wait before the next attempt, or None when this outcome is final.

    ``attempt`` counts from 0; ``repeatable`` says a request that may have reached the server
    can be sent again without acting twice.
    """
    if attempt >= max_retries:
        return None
    if error is not None:
        if isinstance(error, _NOT_SENT) or (repeatable and isinstance(error, httpx.TransportError)):
            return _backoff(attempt)
        return None
    assert response is not None
    if response.status_code == 409:
        if not _in_progress(response):
            return None
    elif response.status_code not in RETRY_STATUSES:
        return None
    wait = retry_after_seconds(response.headers.get("Retry-After"))
    if wait is None:
        return _backoff(attempt)
    if wait > max_retry_wait:
        return None
    return wait


def _backoff(attempt: int) -> float:
    # 0.5 s, 1 s, 2 s ... up to 8 s, with jitter so many clients do not come back together.
    return min(0.5 * 2.0**attempt, 8.0) * random.uniform(0.5, 1.0)


def _in_progress(response: httpx.Response) -> bool:
    try:
        error = response.json()["error"]
        return error["code"] == "IDEMPOTENCY_CONFLICT" and bool(error["details"].get("in_progress"))
    except (ValueError, KeyError, TypeError, AttributeError):
        return False


def error_from_response(response: httpx.Response) -> APIError:
    """The exception for an error answer: the envelope's code, message and details."""
    try:
        body = response.json()
        error = body["error"]
        code, message = str(error["code"]), str(error.get("message") or error["code"])
        details = error.get("details") or {}
        if not isinstance(details, dict):
            details = {"details": details}
    except (ValueError, KeyError, TypeError):
        # Not the API's envelope: a proxy's page, a load balancer's 502.
        code = "HTTP_ERROR" if response.status_code < 500 else "INTERNAL_ERROR"
        message = f"HTTP {response.status_code}: {response.text[:200]}"
        details = {}
    cls = error_class(code=code, status=response.status_code)
    return cls(
        message, code=code, status=response.status_code, details=details, headers=response.headers
    )


class Transport:
    """One ``httpx.Client`` (connections are reused) plus the retry loop."""

    def __init__(
        self,
        *,
        api_key: str,
        base_url: str | None = None,
        timeout: float | httpx.Timeout = 30.0,
        max_retries: int = 2,
        max_retry_wait: float = 60.0,
        http_client: httpx.Client | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if not api_key:
            raise ValueError("An API key is required (mp_live_... or mp_test_...).")
        self.api_key = api_key
        self.base_url = base_url_resolve(base_url)
        self.timeout = timeout
        self.max_retries = max_retries
        self.max_retry_wait = max_retry_wait
        self._own_client = http_client is None
        self._http = http_client or httpx.Client(timeout=timeout)
        self._sleep = sleep

    def close(self) -> None:
        if self._own_client:
            self._http.close()

    def request(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: Mapping[str, Any] | None = None,
        idempotency_key: str | None = None,
        repeatable: bool | None = None,
    ) -> Any:
        """The ``data`` of a successful answer; raises ``APIError``/``APIConnectionError``."""
        method = method.upper()
        headers = {
            "Authorization": f"Bearer {self.api_key}",
            "Accept": "application/json",
            "User-Agent": f"mailpass-python/{__version__}",
        }
        if idempotency_key is not None:
            headers[IDEMPOTENCY_HEADER] = idempotency_key
        if repeatable is None:
            repeatable = method in SAFE_METHODS or idempotency_key is not None
        query = {k: v for k, v in (params or {}).items() if v is not None}
        url = self.base_url + path
        attempt = 0
        while True:
            try:
                response = self._http.request(
                    method,
                    url,
                    json=json,
                    params=query or None,
                    headers=headers,
                    timeout=self.timeout,
                )
            except httpx.TransportError as exc:
                delay = self._delay(attempt, error=exc, repeatable=repeatable)
                if delay is None:
                    raise APIConnectionError(f"{method} {path}: {exc!r}") from exc
            else:
                if response.is_success:
                    return _data(response)
                delay = self._delay(attempt, response=response, repeatable=repeatable)
                if delay is None:
                    raise error_from_response(response)
            self._sleep(delay)
            attempt += 1

    def _delay(self, attempt: int, **outcome: Any) -> float | None:
        return retry_delay(
            attempt=attempt,
            max_retries=self.max_retries,
            max_retry_wait=self.max_retry_wait,
            **outcome,
        )


def _data(response: httpx.Response) -> Any:
    try:
        body = response.json()
    except ValueError as exc:
        raise error_from_response(response) from exc
    if isinstance(body, dict) and body.get("success") is True and "data" in body:
        return body["data"]
    raise error_from_response(response)
