"""A loopback HTTP proxy that loses answers: the network failure idempotency exists for.

It forwards every request to the server and reads the server's whole answer, but for the first
request of each ``Idempotency-Key`` it closes the client's connection without answering: the
server has acted (sent the mail), the client saw nothing. Requests without a key pass through.
"""

import http.client
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

# Not copied: per-connection headers, and those send_response writes itself.
HOP_BY_HOP = {
    "connection",
    "keep-alive",
    "transfer-encoding",
    "content-length",
    "host",
    "server",
    "date",
}


class AnswerDroppingProxy:
    def __init__(self, upstream_url: str) -> None:
        upstream = urlsplit(upstream_url)
        self.upstream = (upstream.hostname, upstream.port)
        # Idempotency-Key -> how many requests with it reached the server.
        self.forwarded: dict[str, int] = {}
        self.dropped = 0
        self.lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def start(self) -> "AnswerDroppingProxy":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def forward(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP}
                upstream = http.client.HTTPConnection(*proxy.upstream, timeout=60)
                try:
                    upstream.request(self.command, self.path, body=body, headers=headers)
                    answer = upstream.getresponse()
                    content = answer.read()
                finally:
                    upstream.close()
                key = self.headers.get("Idempotency-Key")
                with proxy.lock:
                    if key is not None:
                        proxy.forwarded[key] = proxy.forwarded.get(key, 0) + 1
                    drop = key is not None and proxy.forwarded[key] == 1
                    proxy.dropped += drop
                if drop:
                    # The server answered; the client never hears it.
                    self.close_connection = True
                    return
                self.send_response(answer.status)
                for name, value in answer.getheaders():
                    if name.lower() not in HOP_BY_HOP:
                        self.send_header(name, value)
                self.send_header("Content-Length", str(len(content)))
                self.end_headers()
                self.wfile.write(content)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = forward

            def log_message(self, *args: object) -> None:
                pass

        return Handler
