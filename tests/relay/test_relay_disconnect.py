"""A client that goes away in the middle of DATA leaves nothing queued."""

import socket
import time

import pytest

from mail.models import Message, QueueItem
from tests.relay.conftest import plain_auth, simple_message

pytestmark = pytest.mark.django_db(transaction=True)


def _expect(sock: socket.socket, code: bytes) -> bytes:
    data = b""
    while not data.endswith(b"\r\n") or data.splitlines()[-1][3:4] == b"-":
        chunk = sock.recv(4096)
        assert chunk, data
        data += chunk
    assert data.splitlines()[-1].startswith(code), data
    return data


def test_a_client_that_disconnects_mid_data_leaves_nothing_queued(
    relay, alice, alice_key, alice_provider, smtp_server
):
    sock = socket.create_connection(("127.0.0.1", relay.port), timeout=10)
    _expect(sock, b"220")
    for command, code in (
        (b"EHLO client.example", b"250"),
        (b"AUTH PLAIN " + plain_auth(alice_key).encode(), b"235"),
        (b"MAIL FROM:<support@yourdomain.com>", b"250"),
        (b"RCPT TO:<user@example.com>", b"250"),
        (b"DATA", b"354"),
    ):
        sock.sendall(command + b"\r\n")
        _expect(sock, code)
    sock.sendall(simple_message().encode() + b"more of the body, but never the final dot\r\n")
    time.sleep(0.2)
    sock.close()
    time.sleep(0.5)

    assert not Message.objects.filter(account=alice).exists()
    assert not QueueItem.objects.exists()
    # The relay goes on serving.
    sock = socket.create_connection(("127.0.0.1", relay.port), timeout=10)
    _expect(sock, b"220")
    sock.close()
