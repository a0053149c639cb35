"""A real HTTP receiver on loopback that records every webhook it gets.

``behaviour`` decides the answers: a list of status codes consumed one per request (then
``default_status``), a delay before answering, a redirect. Runs in a thread of the test process
or, for process tests, as ``python -m tests.webhooks.receiver`` (see ``main``).
"""

import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    at: float

    @property
    def json(self) -> dict:
        return json.loads(self.body)


@dataclass
class Behaviour:
    statuses: list[int] = field(default_factory=list)
    default_status: int = 200
    delay: float = 0.0
    answer: bytes = b"ok"
    location: str = ""


class Receiver:
    def __init__(self, host: str = "127.0.0.1") -> None:
        self.behaviour = Behaviour()
        self.received: list[Received] = []
        self.lock = threading.Lock()
        self.in_flight = 0
        self.max_in_flight = 0
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args) -> None:
                pass

            def do_POST(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                body = self.rfile.read(length)
                with receiver.lock:
                    receiver.in_flight += 1
                    receiver.max_in_flight = max(receiver.max_in_flight, receiver.in_flight)
                    behaviour = receiver.behaviour
                    status = (
                        behaviour.statuses.pop(0)
                        if behaviour.statuses
                        else behaviour.default_status
                    )
                try:
                    if behaviour.delay:
                        time.sleep(behaviour.delay)
                    with receiver.lock:
                        receiver.received.append(
                            Received(
                                path=self.path,
                                headers={k.lower(): v for k, v in self.headers.items()},
                                body=body,
                                at=time.time(),
                            )
                        )
                    self.send_response(status)
                    if behaviour.location:
                        self.send_header("Location", behaviour.location)
                    self.send_header("Content-Type", "text/plain")
                    self.send_header("Content-Length", str(len(behaviour.answer)))
                    self.end_headers()
                    self.wfile.write(behaviour.answer)
                finally:
                    with receiver.lock:
                        receiver.in_flight -= 1

        self.server = ThreadingHTTPServer((host, 0), Handler)
        self.server.daemon_threads = True
        self.host, self.port = self.server.server_address[:2]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}/hook"

    def start(self) -> "Receiver":
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def wait_for(self, count: int, timeout: float = 10.0) -> list[Received]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                if len(self.received) >= count:
                    return list(self.received)
            time.sleep(0.02)
        with self.lock:
            return list(self.received)
