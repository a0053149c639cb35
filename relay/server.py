"""The SMTP relay server (API.md section 18): aiosmtpd with MailPass's AUTH, MAIL and DATA.

The event loop only speaks SMTP. Everything that touches the database (checking the API key,
the provider and the rate at AUTH and MAIL, mapping and queueing at DATA) runs in a bounded
thread pool, so a slow database makes clients wait for their reply while every other
connection goes on.
"""

import asyncio
import functools
import logging
import socket
import ssl
import threading
import time
import warnings
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, TypeVar

from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session
from django.conf import settings
from django.db import DatabaseError, close_old_connections, connection

from mail.queue import BatchItem
from mail.serializers import MAX_RECIPIENTS
from relay.services import (
    REPLY_AUTH_OK,
    REPLY_TEMPORARY,
    REPLY_TOO_BIG,
    REPLY_TOO_MANY_RECIPIENTS,
    RelayIdentity,
    RelayRefusal,
    RelaySender,
    relay_authenticate,
    relay_items_enqueue,
    relay_mail_begin,
    relay_message_prepare,
)

logger = logging.getLogger(__name__)


class _QuietAiosmtpdLog(logging.Filter):
    """aiosmtpd logs a deprecation warning on every AUTH (it sets ``login_data`` itself) and
    one about AUTH without TLS on every connection: noise, nothing to act on."""

    NOISE = ("Session.login_data is deprecated", "auth_required == True but auth_require_tls")

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith(self.NOISE)


logging.getLogger("mail.log").addFilter(_QuietAiosmtpdLog())

T = TypeVar("T")

REPLY_AUTH_TEMPORARY = "454 4.7.0 Temporary authentication failure, try again later"
# aiosmtpd's own wording for a message over SIZE, and the reply section 18 gives instead.
_REWRITTEN_REPLIES = {
    "552 Error: Too much mail data": REPLY_TOO_BIG,
    "552 Error: message size exceeds fixed maximum message size": REPLY_TOO_BIG,
}


@dataclass(frozen=True)
class RelaySettings:
    host: str
    port: int
    tls_context: ssl.SSLContext | None
    allow_plain_auth: bool
    data_size_limit: int
    db_threads: int

    @property
    def auth_mode(self) -> str:
        if self.allow_plain_auth:
            return "AUTH PLAIN/LOGIN offered with and without TLS"
        return "AUTH PLAIN/LOGIN offered only after STARTTLS"


class RelayConfigurationError(Exception):
    pass


def relay_settings(*, host: str, port: int) -> RelaySettings:
    """The relay's settings from Django settings; refuses a configuration nobody could use."""
    cert, key = settings.MAILPASS_SMTP_RELAY_TLS_CERT, settings.MAILPASS_SMTP_RELAY_TLS_KEY
    if bool(cert) != bool(key):
        raise RelayConfigurationError(
            "Set both MAILPASS_SMTP_RELAY_TLS_CERT and MAILPASS_SMTP_RELAY_TLS_KEY, or neither."
        )
    tls_context = None
    if cert:
        tls_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        try:
            tls_context.load_cert_chain(cert, key)
        except (OSError, ssl.SSLError) as exc:
            raise RelayConfigurationError(
                f"Cannot load the relay's TLS certificate {cert!r} and key {key!r}: {exc}"
            ) from exc
    allow_plain = settings.MAILPASS_SMTP_RELAY_ALLOW_PLAIN_AUTH
    if tls_context is None and not allow_plain:
        raise RelayConfigurationError(
            "Without MAILPASS_SMTP_RELAY_TLS_CERT/KEY no client could authenticate: set them "
            "(STARTTLS), or MAILPASS_SMTP_RELAY_ALLOW_PLAIN_AUTH=true for development."
        )
    return RelaySettings(
        host=host,
        port=port,
        tls_context=tls_context,
        allow_plain_auth=allow_plain,
        data_size_limit=settings.MAILPASS_MAX_BODY_BYTES,
        db_threads=settings.MAILPASS_SMTP_RELAY_DB_THREADS,
    )


# Each pool thread keeps its database connection. Django's check of it (obsolete after
# CONN_MAX_AGE, a health-check query when CONN_HEALTH_CHECKS) runs at most this often per
# thread, not before every step: a connection broken in between fails one step (451, the
# client retries) and is dropped for the next.
CONNECTION_CHECK_SECONDS = 5.0
_thread_state = threading.local()


def _db_job(func: Callable[..., T], kwargs: dict[str, Any]) -> T:
    """Run a database step in a pool thread; a broken connection is dropped for the next."""
    now = time.monotonic()
    if now - getattr(_thread_state, "checked_at", 0.0) > CONNECTION_CHECK_SECONDS:
        close_old_connections()
        _thread_state.checked_at = now
    try:
        return func(**kwargs)
    except DatabaseError:
        connection.close()
        raise


async def _in_pool(executor: ThreadPoolExecutor, func: Callable[..., T], **kwargs: Any) -> T:
    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(executor, functools.partial(_db_job, func, kwargs))


# At most this many messages in one enqueue (the batch API's limit per request).
GROUP_MAX = 100


class _EnqueueGroups:
    """Group commit: messages of one account that are ready while its previous enqueue is
    still running go together in the next one (one transaction, one drain kick).

    An idle account's message is queued at once, so nothing waits for company; under load
    the groups grow by themselves. Accounts (and test keys) are never mixed in a group.
    """

    def __init__(self, executor: ThreadPoolExecutor) -> None:
        self.executor = executor
        self.pending: dict[tuple[int, bool], list[tuple[RelaySender, BatchItem, asyncio.Future]]]
        self.pending = {}
        self.running: set[tuple[int, bool]] = set()

    async def enqueue(self, sender: RelaySender, item: BatchItem) -> str:
        future = asyncio.get_running_loop().create_future()
        group = (sender.api_key.account_id, sender.api_key.is_test)
        self.pending.setdefault(group, []).append((sender, item, future))
        self._start(group)
        return await future

    def _start(self, group: tuple[int, bool]) -> None:
        if group in self.running or not self.pending.get(group):
            return
        waiting = self.pending[group]
        batch, self.pending[group] = waiting[:GROUP_MAX], waiting[GROUP_MAX:]
        self.running.add(group)
        asyncio.get_running_loop().create_task(self._flush(group, batch))

    async def _flush(self, group: tuple[int, bool], batch: list) -> None:
        try:
            replies = await _in_pool(
                self.executor,
                relay_items_enqueue,
                account=batch[0][0].account,
                is_test=group[1],
                items=[item for _, item, _ in batch],
            )
        except RelayRefusal as refusal:
            replies = [refusal.reply] * len(batch)
        except Exception:
            logger.exception("relay: enqueue failed")
            replies = [REPLY_TEMPORARY] * len(batch)
        finally:
            self.running.discard(group)
        for (_, _, future), reply in zip(batch, replies, strict=True):
            if not future.done():  # its client may be gone (the message is queued anyway)
                future.set_result(reply)
        self._start(group)


class RelayHandler:
    """aiosmtpd hooks: MAIL, RCPT and DATA, each answered by a service run off the loop."""

    def __init__(self, executor: ThreadPoolExecutor) -> None:
        self.executor = executor
        self.groups = _EnqueueGroups(executor)

    async def run(self, func: Callable[..., T], **kwargs: Any) -> T:
        return await _in_pool(self.executor, func, **kwargs)

    async def handle_MAIL(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list
    ) -> str:
        identity = session.auth_data
        if not isinstance(identity, RelayIdentity):  # auth_required makes this unreachable
            return "530 5.7.0 Authentication required"
        try:
            envelope.relay_sender = await self.run(relay_mail_begin, identity=identity)
        except RelayRefusal as refusal:
            return refusal.reply
        except Exception:
            logger.exception("relay: MAIL FROM failed")
            return REPLY_TEMPORARY
        envelope.mail_from = address
        envelope.mail_options.extend(options)
        return "250 2.1.0 OK"

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list
    ) -> str:
        if len(envelope.rcpt_tos) >= MAX_RECIPIENTS:
            return REPLY_TOO_MANY_RECIPIENTS
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(options)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        sender = getattr(envelope, "relay_sender", None)
        if sender is None:
            return "503 5.5.1 Error: need MAIL command"
        try:
            item = await self.run(
                relay_message_prepare,
                sender=sender,
                raw=envelope.original_content,
                rcpt_tos=list(envelope.rcpt_tos),
                mail_from=envelope.mail_from or "",
            )
        except RelayRefusal as refusal:
            return refusal.reply
        except Exception:
            logger.exception("relay: DATA failed")
            return REPLY_TEMPORARY
        return await self.groups.enqueue(sender, item)

    async def handle_exception(self, error: Exception) -> str:
        # aiosmtpd would answer with the exception's text; never show internals.
        logger.exception("relay: SMTP session error", exc_info=error)
        return "451 4.3.0 Temporary failure, try again later"


class RelaySMTP(SMTP):
    """aiosmtpd's SMTP with AUTH checked off the loop and section 18's reply codes."""

    def __init__(self, handler: RelayHandler, **kwargs: Any) -> None:
        super().__init__(handler, **kwargs)
        self.relay_handler = handler

    def _authenticate(self, mechanism: str, auth_data: Any) -> Any:
        # Called synchronously by the built-in PLAIN/LOGIN parsers: hand the credentials back
        # to auth_PLAIN/auth_LOGIN below, which check them in the thread pool.
        return auth_data

    async def _auth_check(self, result: Any) -> AuthResult:
        if not isinstance(result, LoginPassword):
            return result  # the parser already answered (bad base64, aborted...)
        try:
            identity = await self.relay_handler.run(
                relay_authenticate, login=result.login, password=result.password
            )
        except RelayRefusal as refusal:
            return AuthResult(success=False, handled=False, message=refusal.reply)
        except Exception:
            logger.exception("relay: AUTH failed")
            return AuthResult(success=False, handled=False, message=REPLY_AUTH_TEMPORARY)
        return AuthResult(success=True, auth_data=identity, message=REPLY_AUTH_OK)

    async def auth_PLAIN(self, _: Any, args: list[str]) -> AuthResult:
        return await self._auth_check(await super().auth_PLAIN(_, args))

    async def auth_LOGIN(self, _: Any, args: list[str]) -> AuthResult:
        return await self._auth_check(await super().auth_LOGIN(_, args))

    async def push(self, status: Any) -> None:
        if isinstance(status, str):
            status = _REWRITTEN_REPLIES.get(status, status)
        await super().push(status)
        if isinstance(status, str) and status.startswith("421") and self.transport is not None:
            self.transport.close()  # 421: the server closes the connection (RFC 5321 3.8)


class RelayServer:
    """The listening relay: ``serve()`` on a loop of its own, or ``start()`` in a thread."""

    def __init__(self, relay: RelaySettings) -> None:
        self.relay = relay
        self.executor = ThreadPoolExecutor(
            max_workers=relay.db_threads, thread_name_prefix="relay-db"
        )
        self.handler = RelayHandler(self.executor)
        self.hostname = socket.gethostname()
        self.port: int | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._server: asyncio.AbstractServer | None = None
        self._thread: threading.Thread | None = None

    def _factory(self) -> RelaySMTP:
        with warnings.catch_warnings():
            # aiosmtpd warns about AUTH without TLS on every connection; the operator chose
            # it (MAILPASS_SMTP_RELAY_ALLOW_PLAIN_AUTH) and start-up says so once.
            warnings.simplefilter("ignore", UserWarning)
            return self._smtp()

    def _smtp(self) -> RelaySMTP:
        return RelaySMTP(
            self.handler,
            hostname=self.hostname,
            ident="MailPass SMTP relay",
            data_size_limit=self.relay.data_size_limit,
            tls_context=self.relay.tls_context,
            auth_required=True,
            auth_require_tls=not self.relay.allow_plain_auth,
            auth_exclude_mechanism=["CRAM-MD5"],
            enable_SMTPUTF8=True,
            loop=self._loop,
        )

    async def listen(self, *, sock: socket.socket | None = None) -> None:
        """Listen on ``sock`` (shared by several relay processes) or on host and port."""
        self._loop = asyncio.get_running_loop()
        if sock is not None:
            self._server = await self._loop.create_server(self._factory, sock=sock)
        else:
            self._server = await self._loop.create_server(
                self._factory, host=self.relay.host, port=self.relay.port
            )
        self.port = self._server.sockets[0].getsockname()[1]
        if self.relay.allow_plain_auth:
            logger.warning(
                "SMTP relay: AUTH is accepted without TLS (MAILPASS_SMTP_RELAY_ALLOW_PLAIN_AUTH); "
                "API keys cross the network in clear text"
            )
        logger.info(
            "SMTP relay up on %s:%s (STARTTLS %s; %s; SIZE %d)",
            self.relay.host,
            self.port,
            "on" if self.relay.tls_context else "off",
            self.relay.auth_mode,
            self.relay.data_size_limit,
        )

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None

    # --- in a thread (tests, benchmarks) ---------------------------------------------------
    def start(self) -> "RelayServer":
        ready = threading.Event()
        failure: list[BaseException] = []

        def run() -> None:
            loop = asyncio.new_event_loop()
            asyncio.set_event_loop(loop)
            try:
                loop.run_until_complete(self.listen())
            except BaseException as exc:
                failure.append(exc)
                ready.set()
                return
            ready.set()
            loop.run_forever()
            loop.run_until_complete(self.close())
            for task in asyncio.all_tasks(loop):
                task.cancel()
            loop.run_until_complete(asyncio.sleep(0))
            loop.close()

        self._thread = threading.Thread(target=run, name="smtp-relay", daemon=True)
        self._thread.start()
        ready.wait(10)
        if failure:
            raise failure[0]
        return self

    def stop(self) -> None:
        if self._thread is not None and self._loop is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)
            self._thread = None
        self.executor_shutdown()

    def executor_shutdown(self) -> None:
        """Close each pool thread's database connection, then the pool."""
        workers = self.relay.db_threads
        barrier = threading.Barrier(workers, timeout=5)

        def close_here() -> None:
            connection.close()
            try:
                barrier.wait()  # holds this thread so each job runs in another one
            except threading.BrokenBarrierError:
                pass

        for future in [self.executor.submit(close_here) for _ in range(workers)]:
            future.result()
        self.executor.shutdown(wait=True)
