"""``manage.py smtp_relay [--host H] [--port P] [--processes N]``: the SMTP relay (API.md s.18)."""

import asyncio
import os
import signal
import socket

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import connections

from relay.server import RelayConfigurationError, RelayServer, RelaySettings, relay_settings


class Command(BaseCommand):
    help = "Run the SMTP relay: apps that speak SMTP send through MailPass with an API key."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--host", default="127.0.0.1", help="Address to listen on.")
        parser.add_argument("--port", type=int, default=2525, help="Port to listen on.")
        parser.add_argument(
            "--processes",
            type=int,
            default=1,
            help="Relay processes sharing the listening socket (one event loop each; use "
            "about one per CPU core).",
        )

    def handle(self, *args, host: str, port: int, processes: int, **options) -> None:
        if processes < 1:
            raise CommandError("--processes must be at least 1")
        try:
            relay = relay_settings(host=host, port=port)
        except RelayConfigurationError as exc:
            raise CommandError(str(exc)) from exc
        try:
            sock = socket.create_server((host, port), backlog=512)
        except OSError as exc:
            raise CommandError(f"Cannot listen on {host}:{port}: {exc}") from exc
        # Pre-fork: every process accepts on the same socket, the kernel spreads connections.
        # No database connection may cross the fork.
        connections.close_all()
        children = []
        for _ in range(processes - 1):
            pid = os.fork()
            if pid == 0:
                code = 0
                try:
                    asyncio.run(self._serve(relay, sock, announce=False))
                except BaseException:
                    code = 1
                finally:
                    os._exit(code)
            children.append(pid)
        asyncio.run(self._serve(relay, sock, announce=True, children=children, processes=processes))

    async def _serve(
        self,
        relay: RelaySettings,
        sock: socket.socket,
        *,
        announce: bool,
        children: list[int] = (),
        processes: int = 1,
    ) -> None:
        server = RelayServer(relay)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)
        await server.listen(sock=sock)
        if announce:
            self.stdout.write(
                f"SMTP relay up on {relay.host}:{server.port} "
                f"(STARTTLS {'on' if relay.tls_context else 'off'}; {relay.auth_mode}"
                + (f"; {processes} processes" if processes > 1 else "")
                + ")"
            )
            self.stdout.flush()
        await stop.wait()
        await server.close()
        await asyncio.to_thread(server.executor_shutdown)
        for pid in children:
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                continue
        for pid in children:
            await asyncio.to_thread(os.waitpid, pid, 0)
        if announce:
            self.stdout.write("SMTP relay stopped")
