"""``manage.py smtp_relay [--host H] [--port P]``: the SMTP relay of API.md section 18."""

import asyncio
import signal

from django.core.management.base import BaseCommand, CommandError, CommandParser

from relay.server import RelayConfigurationError, RelayServer, relay_settings


class Command(BaseCommand):
    help = "Run the SMTP relay: apps that speak SMTP send through MailPass with an API key."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--host", default="127.0.0.1", help="Address to listen on.")
        parser.add_argument("--port", type=int, default=2525, help="Port to listen on.")

    def handle(self, *args, host: str, port: int, **options) -> None:
        try:
            relay = relay_settings(host=host, port=port)
        except RelayConfigurationError as exc:
            raise CommandError(str(exc)) from exc
        asyncio.run(self._serve(RelayServer(relay)))

    async def _serve(self, server: RelayServer) -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)
        try:
            await server.listen()
        except OSError as exc:
            message = f"Cannot listen on {server.relay.host}:{server.relay.port}: {exc}"
            raise CommandError(message) from exc
        self.stdout.write(
            f"SMTP relay up on {server.relay.host}:{server.port} "
            f"(STARTTLS {'on' if server.relay.tls_context else 'off'}; {server.relay.auth_mode})",
        )
        self.stdout.flush()
        await stop.wait()
        await server.close()
        await asyncio.to_thread(server.executor_shutdown)
        self.stdout.write("SMTP relay stopped")
