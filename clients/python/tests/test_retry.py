"""A lost answer is retried with the same Idempotency-Key, and the server sends once.

``MAILPASS_PROXY_URL`` forwards each request to the server but drops the answer to the first
request of every Idempotency-Key. The parent test then counts, in the SMTP sink, the messages
noted here: exactly one each.
"""

from __future__ import annotations

import os
import uuid

import pytest

from mailpass import APIConnectionError, MailPass

pytestmark = [
    pytest.mark.server,
    pytest.mark.skipif(not os.environ.get("MAILPASS_PROXY_URL"), reason="no answer-dropping proxy"),
]


@pytest.fixture
def through_proxy():
    def make(**options) -> MailPass:
        return MailPass(
            os.environ["MAILPASS_API_KEY"], base_url=os.environ["MAILPASS_PROXY_URL"], **options
        )

    return make


def test_a_send_whose_answer_is_lost_is_retried_and_sent_once(through_proxy, report):
    with through_proxy() as client:
        result = client.mail.send(to="retry@example.com", subject="Retried once", text="Once")

    assert result["status"] == "sent"
    report("retried_message_id", result["message_id"])


def test_a_batch_whose_answer_is_lost_is_retried_and_queued_once(through_proxy, report):
    with through_proxy() as client:
        batch = client.mail.send_batch(
            [
                {"to": "batch-retry-a@example.com", "subject": "Batch retried", "text": "A"},
                {"to": "batch-retry-b@example.com", "subject": "Batch retried", "text": "B"},
            ]
        )

    assert batch["queued"] == 2
    for item in batch["messages"]:
        report("retried_batch_message_id", item["message_id"])


def test_without_retries_the_loss_is_raised_and_the_same_key_replays_the_first_send(
    through_proxy, report
):
    key = str(uuid.uuid4())
    with through_proxy(max_retries=0) as client:
        with pytest.raises(APIConnectionError):
            client.mail.send(
                to="replay@example.com", subject="Replayed", text="Once", idempotency_key=key
            )
        # The caller retries by hand with its key: the answer of the send that went out.
        again = client.mail.send(
            to="replay@example.com", subject="Replayed", text="Once", idempotency_key=key
        )

    assert again["status"] == "sent"
    report("replayed_message_id", again["message_id"])
