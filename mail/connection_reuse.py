"""Keeping a provider's SMTP connection open between single sends of one worker thread.

Connecting costs far more than sending: with STARTTLS and AUTH a new connection per message
reaches about a sixth of the rate of a reused one (SENDING-NOTES.md). Each web worker thread
keeps at most ``MAX_PER_THREAD`` open connections, one per provider configuration, and drops
one after ``MAILPASS_SMTP_REUSE_SECONDS`` idle.

Reuse never makes a delivery ambiguous. A connection the server closed says so on its socket
(its 421 or the end of the stream make it readable): such a connection is replaced before any
mail is given to it, at no cost. One idle longer than ``NOOP_AFTER_IDLE_SECONDS`` is also
asked with NOOP (a round trip) before use. And if a kept connection fails at MAIL FROM anyway
(it died between the check and the command), nothing of the message reached the server:
``delivery_send_reusing`` sends it again at once over a new connection.
"""

import select
import smtplib
import threading
import time
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from django.conf import settings
from django.core.mail import EmailMessage
from django.core.mail.backends.smtp import EmailBackend

from mail.delivery import DeliveryError, DeliveryResult, delivery_send
from providers.models import SmtpProvider
from providers.services import provider_connection

# A connection used more recently than this is not asked with NOOP: under load every request
# would pay a round trip for nothing (servers drop idle connections after minutes, not seconds).
NOOP_AFTER_IDLE_SECONDS = 5.0

MAX_PER_THREAD = 4

_local = threading.local()


@dataclass
class _Kept:
    backend: EmailBackend
    idle_since: float


def _kept_connections() -> "OrderedDict[tuple, _Kept]":
    kept = getattr(_local, "connections", None)
    if kept is None:
        kept = _local.connections = OrderedDict()
    return kept


def _config_key(provider: SmtpProvider) -> tuple:
    # Any change to the provider (host, credentials, TLS...) bumps updated_at: a new key.
    return (provider.pk, provider.updated_at)


def _server_spoke(smtp: smtplib.SMTP) -> bool:
    """Whether the server sent anything since its last answer: between messages it has
    nothing to say unless it is going away (a 421, or the end of the stream)."""
    return bool(select.select([smtp.sock], [], [], 0)[0])


def _still_usable(kept: _Kept, max_idle: float) -> bool:
    smtp = kept.backend.connection
    idle = time.monotonic() - kept.idle_since
    if smtp is None or smtp.sock is None or idle > max_idle:
        return False
    try:
        if _server_spoke(smtp):
            return False
        return idle < NOOP_AFTER_IDLE_SECONDS or smtp.noop()[0] == 250
    except (smtplib.SMTPException, OSError, ValueError):
        return False


@contextmanager
def provider_connection_reused(provider: SmtpProvider) -> Iterator[EmailBackend]:
    """A connection for this provider: this thread's kept one if it still answers, else new.

    After use the connection is kept if it is still open (``delivery_send`` closes one that
    failed), or closed when reuse is switched off (``MAILPASS_SMTP_REUSE_SECONDS=0``).
    """
    max_idle = settings.MAILPASS_SMTP_REUSE_SECONDS
    kept_connections = _kept_connections()
    key = _config_key(provider)
    kept = kept_connections.pop(key, None)
    if kept is not None and not _still_usable(kept, max_idle):
        kept.backend.close()
        kept = None
    backend = kept.backend if kept is not None else provider_connection(provider)
    try:
        yield backend
    finally:
        if max_idle <= 0 or backend.connection is None:
            backend.close()
        else:
            kept_connections[key] = _Kept(backend=backend, idle_since=time.monotonic())
            while len(kept_connections) > MAX_PER_THREAD:
                _, oldest = kept_connections.popitem(last=False)
                oldest.backend.close()


def delivery_send_reusing(
    provider: SmtpProvider, email: EmailMessage, *, envelope_from: str = ""
) -> DeliveryResult:
    """``delivery_send`` over this thread's connection to the provider (kept or new).

    A kept connection that turns out to be gone at MAIL FROM (``DeliveryError.connection_gone``:
    nothing of the message reached the server) is replaced and the message sent over the new
    one, once. Any other failure is the caller's, as from ``delivery_send``.
    """
    for attempt in (1, 2):
        with provider_connection_reused(provider) as connection:
            reused = connection.connection is not None
            try:
                return delivery_send(connection, email, envelope_from=envelope_from)
            except DeliveryError as exc:
                if attempt == 2 or not (reused and exc.connection_gone):
                    raise
            except Exception:
                connection.close()  # state unknown: never hand it to the next request
                raise
    raise AssertionError("unreachable")  # pragma: no cover


def kept_connections_close() -> None:
    """Close this thread's kept connections (tests, worker shutdown)."""
    kept_connections = _kept_connections()
    while kept_connections:
        _, kept = kept_connections.popitem()
        kept.backend.close()
