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
from email._header_value_parser import get_addr_spec, get_angle_addr
from email.errors import HeaderParseError
from typing import Any, TypeVar

from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session
from django.conf import settings
from django.db import DatabaseError, close_old_connections, connection

from mail.queue import queue_drain_kick
from mail.serializers import MAX_RECIPIENTS
from relay.services import (
    REPLY_AUTH_OK,
    REPLY_TEMPORARY,
    REPLY_TOO_BIG,
    REPLY_TOO_MANY_RECIPIENTS,
    ReceivedMessage,
    RelayIdentity,
    RelayRefusal,
    relay_authenticate,
    relay_mail_begin,
    relay_messages_queue,
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


class DrainKicks:
    """The drain kicks of this process's enqueues, sent after their replies and coalesced.

    With a broker a kick is a publish that only cuts the time until a worker sends (the
    periodic drain guarantees it), so it need not delay the client's 250: each committed job
    asks for one, at most one is in flight and at most one starts per ``INTERVAL`` (a first
    one at once), and the jobs committed meanwhile share the next. A publish costs more CPU
    than queueing a message; a worker does not notice 50 ms.
    """

    INTERVAL = 0.05

    def __init__(
        self, executor: ThreadPoolExecutor, kick: Callable[..., None] = queue_drain_kick
    ) -> None:
        self.executor = executor
        self.kick = kick
        self.waiting = 0
        self.running = False
        self.closed = False
        self._task: asyncio.Task | None = None

    def add(self, count: int) -> None:
        self.waiting += count
        if count and not self.running and not self.closed:
            self.running = True
            self._task = asyncio.get_running_loop().create_task(self._run())

    async def _run(self) -> None:
        try:
            while self.waiting:
                count, self.waiting = self.waiting, 0
                await _in_pool(self.executor, self.kick, limit=count)
                if self.closed:
                    break  # the last kick is sent; the periodic drain sends the rest
                await asyncio.sleep(self.INTERVAL)
        finally:
            self.running = False

    async def close(self) -> None:
        """Before the pool shuts down: no new kick, and the one in flight finishes (a kick
        started after the shutdown would fail with "cannot schedule new futures")."""
        self.closed = True
        task = self._task
        if task is not None and not task.done():
            # It ends after at most one more kick (the one its pause was waiting to send).
            try:
                await asyncio.wait_for(asyncio.shield(task), timeout=10)
            except TimeoutError:
                task.cancel()


class _EnqueueGroups:
    """Group commit: a received message is queued at once (mapped, validated and written in
    one database job) while its account has fewer than ``concurrency`` jobs running in this
    process; past that, the messages that arrive go together into the next free one (one
    transaction, at most ``GROUP_MAX``).

    So a few clients never wait for each other's commit, and many share commits as they
    come. Accounts, test keys and providers (a default changed between two MAILs) are never
    mixed in a group; one account cannot hold more than ``concurrency`` of the database
    threads (twice that only while its default provider changes).
    """

    def __init__(
        self, executor: ThreadPoolExecutor, *, concurrency: int, kicks: DrainKicks | None
    ) -> None:
        self.executor = executor
        self.concurrency = concurrency
        self.kicks = kicks  # None: each job kicks the drain itself, before its replies
        self.pending: dict[tuple[int, bool, int], list[tuple[ReceivedMessage, asyncio.Future]]] = {}
        self.running: dict[tuple[int, bool, int], int] = {}

    async def queue(self, message: ReceivedMessage) -> str:
        """The final reply of ``message``, once it is committed (or refused)."""
        future = asyncio.get_running_loop().create_future()
        sender = message.sender
        group = (sender.api_key.account_id, sender.api_key.is_test, sender.provider.pk)
        self.pending.setdefault(group, []).append((message, future))
        self._start(group)
        return await future

    def _start(self, group: tuple[int, bool, int]) -> None:
        while self.pending.get(group) and self.running.get(group, 0) < self.concurrency:
            waiting = self.pending[group]
            batch, self.pending[group] = waiting[:GROUP_MAX], waiting[GROUP_MAX:]
            self.running[group] = self.running.get(group, 0) + 1
            asyncio.get_running_loop().create_task(self._flush(group, batch))
        if not self.pending.get(group):
            self.pending.pop(group, None)

    async def _flush(self, group: tuple[int, bool, int], batch: list) -> None:
        try:
            replies = await _in_pool(
                self.executor,
                relay_messages_queue,
                messages=[message for message, _ in batch],
                kick=self.kicks is None,
            )
        except Exception:
            logger.exception("relay: enqueue failed")
            replies = [REPLY_TEMPORARY] * len(batch)
        finally:
            self.running[group] -= 1
            if not self.running[group]:
                del self.running[group]
        for (_, future), reply in zip(batch, replies, strict=True):
            if not future.done():  # its client may be gone (the message is queued anyway)
                future.set_result(reply)
        if self.kicks is not None:
            self.kicks.add(sum(1 for reply in replies if reply.startswith("250")))
        self._start(group)


class RelayHandler:
    """aiosmtpd hooks: MAIL, RCPT and DATA, each answered by a service run off the loop."""

    def __init__(self, executor: ThreadPoolExecutor, *, enqueue_concurrency: int) -> None:
        self.executor = executor
        # Without a broker (tasks run eagerly) the kick is the drain itself, sending in this
        # process: it stays in the job that queued, before the replies, as in the batch API.
        self.kicks = None if settings.CELERY_TASK_ALWAYS_EAGER else DrainKicks(executor)
        self.groups = _EnqueueGroups(executor, concurrency=enqueue_concurrency, kicks=self.kicks)

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
        message = ReceivedMessage(
            sender=sender,
            raw=envelope.original_content,
            rcpt_tos=list(envelope.rcpt_tos),
            mail_from=envelope.mail_from or "",
        )
        return await self.groups.queue(message)

    async def handle_exception(self, error: Exception) -> str:
        # aiosmtpd would answer with the exception's text; never show internals.
        logger.exception("relay: SMTP session error", exc_info=error)
        return "451 4.3.0 Temporary failure, try again later"


@functools.lru_cache(maxsize=1024)
def _address_parse(arg: str) -> tuple[str | None, str | None]:
    """aiosmtpd's parse of a MAIL/RCPT argument (``<addr> PARAMS``), kept for the next time.

    The same few addresses come in message after message, and aiosmtpd's own ``_getaddr``
    builds a typing Protocol class on every call (a third of its cost). Arguments are
    bounded by the SMTP line length, so the cache is too.
    """
    try:
        if arg.lstrip().startswith("<"):
            address, rest = get_angle_addr(arg)
        else:
            address, rest = get_addr_spec(arg)
    except HeaderParseError:
        return None, None
    return address.addr_spec, rest


class RelaySMTP(SMTP):
    """aiosmtpd's SMTP with AUTH checked off the loop and section 18's reply codes."""

    def __init__(self, handler: RelayHandler, **kwargs: Any) -> None:
        super().__init__(handler, **kwargs)
        self.relay_handler = handler

    def _getaddr(self, arg: str) -> tuple[str | None, str | None]:
        if not arg:
            return "", ""
        address, rest = _address_parse(arg)
        if address is not None and self.local_part_limit:
            if len(address.rpartition("@")[0]) > self.local_part_limit:
                return None, None
        return address, rest

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
        # Half the database threads at most for one account's enqueues: the rest stay free for
        # other accounts and for every client's MAIL and DATA checks.
        self.handler = RelayHandler(
            self.executor, enqueue_concurrency=max(1, relay.db_threads // 2)
        )
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
        if self.handler.kicks is not None:
            await self.handler.kicks.close()

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
