"""The SMTP server of ``MAILPASS_BOUNCE_DOMAIN`` (API.md section 16.2), on aiosmtpd.

Mail for other domains is refused at RCPT (550). A bounce is recorded before the 250 reply to
DATA (in a worker thread: the ORM is synchronous), so an acknowledged bounce is never lost; if
the database is away the answer is 451 and the sending server tries again.
"""

import asyncio
import logging

from aiosmtpd.controller import Controller
from django.conf import settings
from django.db import close_old_connections

from feedback.services import bounce_record

logger = logging.getLogger(__name__)

MAX_BOUNCE_BYTES = 10 * 1024 * 1024


def _record(rcpt_tos: list[str], raw: bytes) -> int:
    close_old_connections()
    try:
        return bounce_record(rcpt_tos=rcpt_tos, raw=raw)
    finally:
        close_old_connections()


class BounceHandler:
    def __init__(self, *, domain: str) -> None:
        self.domain = domain.lower()

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):  # noqa: N802
        if address.rpartition("@")[2].lower() != self.domain:
            return "550 5.7.1 This server only accepts mail for its bounce domain"
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server, session, envelope):  # noqa: N802
        raw = envelope.original_content or envelope.content
        try:
            recorded = await asyncio.to_thread(_record, list(envelope.rcpt_tos), raw)
        except Exception:
            logger.exception("bounce not recorded; the sender will retry")
            return "451 4.3.0 Temporary failure, please try again later"
        logger.info("bounce to %s: %d events recorded", envelope.rcpt_tos, recorded)
        return "250 2.0.0 OK"


def bounce_controller(*, host: str, port: int, domain: str | None = None) -> Controller:
    """A not yet started server for the bounce domain on host:port."""
    return Controller(
        BounceHandler(domain=domain or settings.MAILPASS_BOUNCE_DOMAIN),
        hostname=host,
        port=port,
        ident="MailPass bounces",
        data_size_limit=MAX_BOUNCE_BYTES,
    )
