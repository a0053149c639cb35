"""``mailpass.webhooks.verify`` agrees with the Standard Webhooks reference library."""

from __future__ import annotations

import base64
import datetime
import json
import os
import time

import pytest
from standardwebhooks.webhooks import Webhook

from mailpass.webhooks import WebhookVerificationError, sign, verify

SECRET = "whsec_" + base64.b64encode(os.urandom(32)).decode()
BODY = json.dumps({"type": "message.sent", "data": {"message_id": "<a.1@mailpass.im>"}})


def signed_by_the_library(secret: str, body: str, *, at: float | None = None) -> dict[str, str]:
    timestamp = int(time.time() if at is None else at)
    signature = Webhook(secret).sign(
        "msg_1", datetime.datetime.fromtimestamp(timestamp, tz=datetime.timezone.utc), body
    )
    return {
        "webhook-id": "msg_1",
        "webhook-timestamp": str(timestamp),
        "webhook-signature": signature,
    }


def test_a_payload_the_library_signed_verifies():
    headers = signed_by_the_library(SECRET, BODY)

    assert verify(BODY.encode(), headers, SECRET)["type"] == "message.sent"


def test_header_names_are_case_insensitive():
    headers = {k.title(): v for k, v in signed_by_the_library(SECRET, BODY).items()}

    assert verify(BODY, headers, SECRET)["data"]["message_id"] == "<a.1@mailpass.im>"


def test_what_sign_makes_the_library_verifies():
    timestamp = int(time.time())
    headers = {
        "webhook-id": "msg_2",
        "webhook-timestamp": str(timestamp),
        "webhook-signature": sign(
            secret=SECRET, webhook_id="msg_2", timestamp=timestamp, payload=BODY
        ),
    }

    assert Webhook(SECRET).verify(BODY, headers)["type"] == "message.sent"


def test_during_a_rotation_either_secret_verifies_the_two_signatures():
    new_secret = "whsec_" + base64.b64encode(os.urandom(32)).decode()
    headers = signed_by_the_library(SECRET, BODY)
    headers["webhook-signature"] += (
        " " + signed_by_the_library(new_secret, BODY)["webhook-signature"]
    )

    assert verify(BODY, headers, SECRET)
    assert verify(BODY, headers, new_secret)


def test_an_unpadded_secret_is_read_as_the_library_reads_it():
    unpadded = SECRET.rstrip("=")

    assert verify(BODY, signed_by_the_library(SECRET, BODY), unpadded)


@pytest.mark.parametrize(
    "tamper",
    [
        lambda h, b: (h, b + " "),
        lambda h, b: ({**h, "webhook-id": "msg_other"}, b),
        lambda h, b: ({**h, "webhook-timestamp": str(int(h["webhook-timestamp"]) + 1)}, b),
        lambda h, b: ({**h, "webhook-signature": "v1,AAAA"}, b),
        lambda h, b: ({k: v for k, v in h.items() if k != "webhook-signature"}, b),
    ],
    ids=["body", "id", "timestamp", "signature", "no signature"],
)
def test_anything_changed_is_refused(tamper):
    headers, body = tamper(signed_by_the_library(SECRET, BODY), BODY)

    with pytest.raises(WebhookVerificationError):
        verify(body, headers, SECRET)


def test_a_signature_from_another_secret_is_refused():
    other = "whsec_" + base64.b64encode(os.urandom(32)).decode()

    with pytest.raises(WebhookVerificationError):
        verify(BODY, signed_by_the_library(other, BODY), SECRET)


@pytest.mark.parametrize("offset", [-301, 301])
def test_a_timestamp_more_than_five_minutes_away_is_refused(offset):
    headers = signed_by_the_library(SECRET, BODY, at=time.time() + offset)

    with pytest.raises(WebhookVerificationError):
        verify(BODY, headers, SECRET)
    # The library agrees.
    with pytest.raises(Exception, match="timestamp"):
        Webhook(SECRET).verify(BODY, headers)
