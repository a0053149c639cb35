"""What the transport retries, how long it waits, and the one Idempotency-Key of a send.

These are the retry rules alone (an ``httpx.MockTransport`` answers, ``sleep`` is recorded);
``test_retry.py`` and ``test_rate_limit.py`` prove them against the real server.
"""

from __future__ import annotations

import httpx
import pytest

from mailpass import APIConnectionError, RateLimitError, ServerError, errors
from mailpass._transport import Transport

SENT = {"success": True, "data": {"message_id": "<a.1@mailpass.im>", "status": "sent"}}


def error(code: str, status: int, headers: dict | None = None, **details) -> httpx.Response:
    body = {"success": False, "error": {"code": code, "message": code, "details": details}}
    return httpx.Response(status, json=body, headers=headers or {})


def transport_answering(*answers, max_retries: int = 3, max_retry_wait: float = 60.0):
    """A Transport whose server answers ``answers`` in turn (an exception is raised instead)."""
    seen: list[httpx.Request] = []
    waits: list[float] = []
    pending = list(answers)

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        answer = pending.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    transport = Transport(
        api_key="mp_test_key",
        base_url="http://mailpass.invalid",
        max_retries=max_retries,
        max_retry_wait=max_retry_wait,
        http_client=httpx.Client(transport=httpx.MockTransport(handler)),
        sleep=waits.append,
    )
    return transport, seen, waits


def send(transport: Transport, key: str = "key-1"):
    return transport.request("POST", "/api/v1/mail/send", json={"to": "a@b.c"}, idempotency_key=key)


def test_429_and_503_are_retried_after_retry_after_with_the_same_idempotency_key():
    transport, seen, waits = transport_answering(
        error("RATE_LIMITED", 429, {"Retry-After": "2"}),
        error("SERVICE_UNAVAILABLE", 503, {"Retry-After": "5"}),
        httpx.Response(200, json=SENT),
    )

    assert send(transport)["status"] == "sent"

    assert waits == [2.0, 5.0]
    assert {r.headers["Idempotency-Key"] for r in seen} == {"key-1"}
    assert len(seen) == 3


def test_a_lost_answer_is_retried_when_the_request_carries_an_idempotency_key():
    transport, seen, waits = transport_answering(
        httpx.RemoteProtocolError("Server disconnected without sending a response."),
        httpx.ReadTimeout("timed out"),
        httpx.Response(200, json=SENT),
    )

    assert send(transport)["message_id"] == "<a.1@mailpass.im>"
    assert [r.headers["Idempotency-Key"] for r in seen] == ["key-1"] * 3
    assert len(waits) == 2


def test_a_lost_answer_to_a_post_without_a_key_is_not_retried():
    transport, seen, _ = transport_answering(httpx.ReadTimeout("timed out"))

    with pytest.raises(APIConnectionError):
        transport.request("POST", "/api/v1/templates", json={"name": "x"})
    assert len(seen) == 1


def test_a_refused_connection_is_retried_whatever_the_method():
    transport, seen, _ = transport_answering(
        httpx.ConnectError("refused"), httpx.Response(201, json={"success": True, "data": {}})
    )

    assert transport.request("POST", "/api/v1/templates", json={"name": "x"}) == {}
    assert len(seen) == 2


def test_a_retry_after_longer_than_max_retry_wait_is_raised_at_once():
    transport, seen, waits = transport_answering(
        error("SEND_LIMIT_EXCEEDED", 429, {"Retry-After": "3600"}, window="hourly"),
        max_retry_wait=60,
    )

    with pytest.raises(RateLimitError) as caught:
        send(transport)

    assert caught.value.retry_after == 3600
    assert caught.value.details == {"window": "hourly"}
    assert waits == [] and len(seen) == 1


def test_retries_stop_at_max_retries_and_raise_the_last_error():
    transport, seen, waits = transport_answering(
        *[error("SERVICE_UNAVAILABLE", 503, {"Retry-After": "1"})] * 3, max_retries=2
    )

    with pytest.raises(ServerError) as caught:
        send(transport)

    assert caught.value.code == "SERVICE_UNAVAILABLE"
    assert len(seen) == 3 and waits == [1.0, 1.0]


def test_a_request_still_in_progress_is_asked_again_but_another_conflict_is_not():
    transport, seen, _ = transport_answering(
        error("IDEMPOTENCY_CONFLICT", 409, {"Retry-After": "1"}, in_progress=True),
        httpx.Response(200, json=SENT),
    )
    assert send(transport)["status"] == "sent"

    transport, seen, _ = transport_answering(error("IDEMPOTENCY_CONFLICT", 409))
    with pytest.raises(errors.ConflictError):
        send(transport)
    assert len(seen) == 1


@pytest.mark.parametrize(
    ("code", "status", "cls"),
    [
        ("UNAUTHORIZED", 401, errors.AuthenticationError),
        ("FORBIDDEN", 403, errors.PermissionDeniedError),
        ("VALIDATION_ERROR", 400, errors.ValidationError),
        ("PAYLOAD_TOO_LARGE", 413, errors.ValidationError),
        ("NOT_FOUND", 404, errors.NotFoundError),
        ("NOT_CANCELABLE", 409, errors.ConflictError),
        ("NO_SMTP_PROVIDER", 422, errors.UnprocessableError),
        ("RECIPIENT_SUPPRESSED", 422, errors.UnprocessableError),
        ("SEND_LIMIT_EXCEEDED", 429, errors.RateLimitError),
        ("SEND_FAILED", 500, errors.SendFailedError),
        ("INTERNAL_ERROR", 500, errors.ServerError),
        ("SOMETHING_NEW", 422, errors.UnprocessableError),
        ("SOMETHING_NEW", 502, errors.ServerError),
    ],
)
def test_each_code_is_raised_as_its_family(code, status, cls):
    transport, _, _ = transport_answering(error(code, status, message_id="<x@y>"), max_retries=0)

    with pytest.raises(cls) as caught:
        send(transport)

    assert (caught.value.code, caught.value.status) == (code, status)
    assert caught.value.details == {"message_id": "<x@y>"}
