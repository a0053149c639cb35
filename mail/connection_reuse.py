"""Keeping a provider's SMTP connection open between single sends of one worker thread.

Connecting costs far more than sending: with STARTTLS and AUTH a new connection per message
reaches about a sixth of the rate of a reused one (SENDING-NOTES.md). Each web worker thread
keeps at most ``MAX_PER_THREAD`` open connections, one per provider configuration, and drops
one after ``MAILPASS_SMTP_REUSE_SECONDS`` idle. A kept connection is checked with NOOP before
use, so a connection the server closed in the meantime is replaced before any mail is given to
it: reuse never makes a delivery ambiguous.
"""

import smtplib
import threading
import time
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from django.conf import settings
from django.core.mail.backends.smtp import EmailBackend

from providers.models import SmtpProvider
from providers.services import provider_connection

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


def _still_usable(kept: _Kept, max_idle: float) -> bool:
    if kept.backend.connection is None or time.monotonic() - kept.idle_since > max_idle:
        return False
    try:
        return kept.backend.connection.noop()[0] == 250
    except (smtplib.SMTPException, OSError):
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


def kept_connections_close() -> None:
    """Close this thread's kept connections (tests, worker shutdown)."""
    kept_connections = _kept_connections()
    while kept_connections:
        _, kept = kept_connections.popitem()
        kept.backend.close()
