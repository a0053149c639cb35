"""The webhooks resource, and ``verify`` on what the real server posts to an endpoint."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from mailpass import NotFoundError
from mailpass.webhooks import WebhookVerificationError, verify

pytestmark = pytest.mark.server


class Receiver:
    """An HTTP endpoint on loopback that records each POST (the server may deliver here:
    the test server allows private networks)."""

    def __init__(self) -> None:
        self.requests: list[tuple[dict[str, str], bytes]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                receiver.requests.append((dict(self.headers.items()), body))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    receiver = Receiver()
    yield receiver
    receiver.stop()


def test_an_endpoint_is_created_listed_read_updated_and_deleted(client, receiver):
    created = client.webhooks.create(
        url=receiver.url, events=["message.sent"], description="orders"
    )
    assert created["secret"].startswith("whsec_")
    assert created["events"] == ["message.sent"]
    assert created["active"] is True
    endpoint_id = created["id"]
    assert endpoint_id in [e["id"] for e in client.webhooks.list()]
    assert "secret" not in client.webhooks.get(endpoint_id)

    updated = client.webhooks.update(endpoint_id, events=[], active=False)
    assert (updated["events"], updated["active"], updated["description"]) == ([], False, "orders")

    assert client.webhooks.delete(endpoint_id) == {"id": endpoint_id, "deleted": True}
    with pytest.raises(NotFoundError):
        client.webhooks.get(endpoint_id)


def test_the_test_event_the_server_signs_verifies_with_the_secret(client, receiver):
    created = client.webhooks.create(url=receiver.url)

    outcome = client.webhooks.test(created["id"])

    assert outcome["success"] is True
    assert outcome["status_code"] == 204
    ((headers, body),) = receiver.requests
    event = verify(body, headers, created["secret"])
    assert event["type"] == "webhook.test"
    assert headers["webhook-id"] == outcome["webhook_id"]
    with pytest.raises(WebhookVerificationError):
        verify(body + b" ", headers, created["secret"])
    client.webhooks.delete(created["id"])


def test_after_a_rotation_both_the_new_and_the_old_secret_verify(client, receiver):
    created = client.webhooks.create(url=receiver.url)

    rotated = client.webhooks.rotate_secret(created["id"])
    client.webhooks.test(created["id"])

    assert rotated["secret"] != created["secret"]
    ((headers, body),) = receiver.requests
    assert len(headers["webhook-signature"].split()) == 2
    assert verify(body, headers, rotated["secret"])["type"] == "webhook.test"
    assert verify(body, headers, created["secret"])["type"] == "webhook.test"
    client.webhooks.delete(created["id"])
