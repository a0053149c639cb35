"""429 RATE_LIMITED from the real server: raised without retries, waited out with them.

Runs when the server's API rate is low (``tests/clients`` sets ``MAILPASS_API_RATE`` and tells
it by ``MAILPASS_TEST_RATE_LIMITED=1``); skips otherwise.
"""

from __future__ import annotations

import os

import httpx
import pytest

from mailpass import MailPass, RateLimitError

pytestmark = [
    pytest.mark.server,
    pytest.mark.skipif(
        os.environ.get("MAILPASS_TEST_RATE_LIMITED") != "1",
        reason="the server's API rate is not lowered for this run",
    ),
]


def test_over_the_rate_a_client_without_retries_raises_rate_limit_error():
    with MailPass(os.environ["MAILPASS_API_KEY"], max_retries=0) as client:
        with pytest.raises(RateLimitError) as caught:
            for _ in range(50):
                client.webhooks.list()

    assert (caught.value.code, caught.value.status) == ("RATE_LIMITED", 429)
    assert caught.value.retry_after is not None and caught.value.retry_after >= 1


def test_a_client_with_retries_waits_out_retry_after_and_every_call_succeeds():
    answers: list[int] = []
    http = httpx.Client(
        event_hooks={"response": [lambda response: answers.append(response.status_code)]}
    )
    with MailPass(os.environ["MAILPASS_API_KEY"], max_retries=3, http_client=http) as client:
        results = [client.webhooks.list() for _ in range(8)]
    http.close()

    assert all(isinstance(result, list) for result in results)
    assert 429 in answers
    assert answers.count(200) == 8
