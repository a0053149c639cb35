"""Delivering webhooks: claim due deliveries, POST them, record each outcome.

- Claims are ``SELECT ... FOR UPDATE SKIP LOCKED`` plus a lease (``locked_until``); a delivery
  whose worker died is taken again when its lease has run out.
- At most ``MAILPASS_WEBHOOK_ENDPOINT_CONCURRENCY`` deliveries of one endpoint are in flight
  across all workers (the claim locks the endpoint row and counts its live leases), so a slow or
  dead endpoint holds a few threads and never the others' deliveries.
- No database transaction is open during HTTP: threads do the network, the main thread claims and
  records, each result with a narrow update fenced by ``locked_by``.
- Retry times live in the database (``next_attempt_at``), never in broker ETAs.
"""

import logging
import os
import socket
import threading
import time
import uuid
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from datetime import timedelta
from urllib.parse import urlsplit, urlunsplit

import httpx
from django.conf import settings
from django.db import connection, transaction
from django.db.models import Count, Exists, F, OuterRef
from django.db.models.functions import Coalesce
from django.utils import timezone

from providers.crypto import SecretDecryptionError
from webhooks.models import DeliveryStatus, WebhookAttempt, WebhookDelivery, WebhookEndpoint
from webhooks.network import AddressRefused, HostUnresolvable, target_check
from webhooks.payloads import payload_body, payload_build
from webhooks.services import endpoint_signing_secrets, test_delivery_create
from webhooks.signing import signed_headers

logger = logging.getLogger(__name__)

RESPONSE_KEEP_BYTES = 1024
# Free threads wait at most this long for more to free up before claiming.
CLAIM_PAUSE_SECONDS = 0.2
USER_AGENT = "MailPass-Webhooks/1.0"


def worker_name() -> str:
    return f"{socket.gethostname()[:30]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


@dataclass
class Prepared:
    """What a thread needs to POST one delivery: no model instances, no database."""

    delivery_id: int
    endpoint_id: int
    is_test: bool
    attempts: int
    url: str
    webhook_id: str
    body: bytes
    secrets: list[str]


@dataclass
class Outcome:
    success: bool
    status_code: int | None = None
    latency_ms: int | None = None
    response: str = ""
    error: str = ""


@dataclass
class RunResult:
    delivered: int = 0
    retried: int = 0
    failed: int = 0


def _http_client() -> httpx.Client:
    concurrency = settings.MAILPASS_WEBHOOK_CONCURRENCY
    return httpx.Client(
        timeout=httpx.Timeout(settings.MAILPASS_WEBHOOK_TIMEOUT),
        follow_redirects=False,
        trust_env=False,  # no proxy from the environment: we connect to the checked address
        limits=httpx.Limits(max_connections=concurrency * 2, max_keepalive_connections=concurrency),
    )


def _pinned(url: str, address: str) -> tuple[str, str]:
    """The URL with its host replaced by ``address``, and the Host header it had."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    host_header = f"[{host}]" if ":" in host else host
    if parts.port:
        host_header += f":{parts.port}"
    literal = f"[{address}]" if ":" in address else address
    port = parts.port or (443 if parts.scheme == "https" else 80)
    userinfo = parts.netloc.rpartition("@")[0]
    netloc = f"{userinfo}@{literal}:{port}" if userinfo else f"{literal}:{port}"
    return urlunsplit((parts.scheme, netloc, parts.path or "/", parts.query, "")), host_header


def attempt_send(*, client: httpx.Client, prepared: Prepared) -> Outcome:
    """One POST (in a worker thread): check the resolved address, sign, send, read 1 KiB."""
    started = time.monotonic()

    def elapsed() -> int:
        return int((time.monotonic() - started) * 1000)

    if not prepared.secrets:
        return Outcome(
            success=False,
            latency_ms=0,
            error="The endpoint's secret cannot be decrypted with MAILPASS_ENCRYPTION_KEY.",
        )
    try:
        target = target_check(prepared.url)
    except (AddressRefused, HostUnresolvable) as exc:
        return Outcome(success=False, latency_ms=elapsed(), error=str(exc))
    headers = {
        "content-type": "application/json",
        "user-agent": USER_AGENT,
        **signed_headers(
            secrets_=prepared.secrets,
            webhook_id=prepared.webhook_id,
            timestamp=int(time.time()),
            body=prepared.body,
        ),
    }
    url, extensions = prepared.url, {}
    if target.address is not None:
        url, headers["host"] = _pinned(prepared.url, target.address)
        if target.scheme == "https":
            extensions["sni_hostname"] = target.host
    try:
        with client.stream(
            "POST", url, content=prepared.body, headers=headers, extensions=extensions
        ) as response:
            head = b""
            for chunk in response.iter_bytes():
                head += chunk
                if len(head) >= RESPONSE_KEEP_BYTES:
                    break
            status = response.status_code
    except httpx.TimeoutException as exc:
        return Outcome(success=False, latency_ms=elapsed(), error=f"timeout: {exc!r}")
    except (httpx.HTTPError, OSError, ValueError) as exc:
        return Outcome(success=False, latency_ms=elapsed(), error=f"{type(exc).__name__}: {exc}")
    text = head[:RESPONSE_KEEP_BYTES].decode("utf-8", errors="replace")
    success = 200 <= status < 300
    error = "" if success else f"HTTP {status}"
    if 300 <= status < 400:
        error += " (redirects are not followed)"
    return Outcome(
        success=success, status_code=status, latency_ms=elapsed(), response=text, error=error
    )


def deliveries_release_expired() -> int:
    """Deliveries whose worker outlived its lease (killed, hung) are due again."""
    return WebhookDelivery.objects.filter(
        status=DeliveryStatus.DELIVERING, locked_until__lte=timezone.now()
    ).update(status=DeliveryStatus.PENDING, locked_by="", locked_until=None)


def deliveries_claim(*, worker: str, limit: int) -> list[int]:
    """Take up to ``limit`` due deliveries, fairly across endpoints, each endpoint capped."""
    if limit <= 0:
        return []
    now = timezone.now()
    cap = settings.MAILPASS_WEBHOOK_ENDPOINT_CONCURRENCY
    lease = timedelta(seconds=settings.MAILPASS_WEBHOOK_LEASE_SECONDS)
    due = WebhookDelivery.objects.filter(
        endpoint=OuterRef("pk"), status=DeliveryStatus.PENDING, next_attempt_at__lte=now
    )
    claimed: list[int] = []
    with transaction.atomic():
        # Locking the endpoint rows (not their keys: the trigger's inserts go on) makes the
        # in-flight count below exact across concurrent claimers.
        endpoint_ids = list(
            WebhookEndpoint.objects.select_for_update(skip_locked=True, no_key=True, of=("self",))
            .filter(active=True)
            .filter(Exists(due))
            .order_by(F("last_attempt_at").asc(nulls_first=True), "id")
            .values_list("id", flat=True)[:limit]
        )
        if not endpoint_ids:
            return []
        in_flight = dict(
            WebhookDelivery.objects.filter(
                endpoint_id__in=endpoint_ids,
                status=DeliveryStatus.DELIVERING,
                locked_until__gt=now,
            )
            .values_list("endpoint_id")
            .annotate(n=Count("id"))
            .values_list("endpoint_id", "n")
        )
        for endpoint_id in endpoint_ids:
            take = min(cap - in_flight.get(endpoint_id, 0), limit - len(claimed))
            if take <= 0:
                continue
            claimed += list(
                WebhookDelivery.objects.select_for_update(skip_locked=True)
                .filter(
                    endpoint_id=endpoint_id,
                    status=DeliveryStatus.PENDING,
                    next_attempt_at__lte=now,
                )
                .order_by("next_attempt_at", "id")
                .values_list("id", flat=True)[:take]
            )
            if len(claimed) >= limit:
                break
        if claimed:
            WebhookDelivery.objects.filter(pk__in=claimed).update(
                status=DeliveryStatus.DELIVERING, locked_by=worker, locked_until=now + lease
            )
    return claimed


def deliveries_prepare(*, delivery_ids: list[int]) -> list[Prepared]:
    deliveries = WebhookDelivery.objects.filter(pk__in=delivery_ids).select_related(
        "endpoint", "event", "event__message"
    )
    prepared = []
    for delivery in deliveries:
        endpoint = delivery.endpoint
        try:
            secrets_ = endpoint_signing_secrets(endpoint=endpoint)
        except SecretDecryptionError:
            # Never sent unsigned: the attempt fails (and is retried) until the key is fixed.
            logger.error("webhook endpoint %s: its secret cannot be decrypted", endpoint.pk)
            secrets_ = []
        prepared.append(
            Prepared(
                delivery_id=delivery.pk,
                endpoint_id=endpoint.pk,
                is_test=delivery.event_id is None,
                attempts=delivery.attempts,
                url=endpoint.url,
                webhook_id=delivery.webhook_id,
                body=payload_body(payload_build(delivery=delivery)),
                secrets=secrets_,
            )
        )
    return prepared


def _delivery_fields(*, prepared: Prepared, outcome: Outcome, now, retry: bool):
    schedule = settings.MAILPASS_WEBHOOK_RETRY_SCHEDULE
    attempts = prepared.attempts + 1
    fields = {
        "attempts": attempts,
        "locked_by": "",
        "locked_until": None,
        "last_status_code": outcome.status_code,
        "last_latency_ms": outcome.latency_ms,
        "last_response": outcome.response,
        "last_error": outcome.error,
    }
    if outcome.success:
        fields.update(status=DeliveryStatus.DELIVERED, delivered_at=now, next_attempt_at=None)
        return "delivered", fields
    if retry and attempts <= len(schedule):
        fields.update(
            status=DeliveryStatus.PENDING,
            next_attempt_at=now + timedelta(seconds=schedule[attempts - 1]),
        )
        return "retried", fields
    fields.update(status=DeliveryStatus.FAILED, next_attempt_at=None)
    return "failed", fields


def deliveries_record(
    *, results: list[tuple[Prepared, Outcome]], worker: str, retry: bool = True
) -> list[str]:
    """Write the outcomes of several attempts in one transaction; for each, ``delivered``,
    ``retried``, ``failed`` or ``lost`` (its lease went to another worker: nothing written).

    Each delivery's update is fenced by its lease; the attempts are inserted together; each
    endpoint's health is written once, from its attempts in order.
    """
    now = timezone.now()
    kinds: list[str] = []
    attempts: list[WebhookAttempt] = []
    health: dict[int, dict] = {}
    with transaction.atomic():
        for prepared, outcome in results:
            kind, fields = _delivery_fields(
                prepared=prepared, outcome=outcome, now=now, retry=retry
            )
            changed = WebhookDelivery.objects.filter(
                pk=prepared.delivery_id, status=DeliveryStatus.DELIVERING, locked_by=worker
            ).update(**fields)
            if not changed:
                kinds.append("lost")
                continue
            kinds.append(kind)
            attempts.append(
                WebhookAttempt(
                    delivery_id=prepared.delivery_id,
                    attempted_at=now,
                    status_code=outcome.status_code,
                    latency_ms=outcome.latency_ms,
                    response=outcome.response,
                    error=outcome.error,
                    success=outcome.success,
                )
            )
            state = health.setdefault(
                prepared.endpoint_id, {"success": False, "failure": False, "last": outcome}
            )
            state["last"] = outcome
            if outcome.success:
                state["success"], state["failure"] = True, False
            elif not prepared.is_test:
                state["failure"] = True  # a test does not count towards switching off
        WebhookAttempt.objects.bulk_create(attempts)
        days = settings.MAILPASS_WEBHOOK_DISABLE_AFTER_DAYS
        for endpoint_id, state in sorted(health.items()):
            last: Outcome = state["last"]
            endpoint = WebhookEndpoint.objects.filter(pk=endpoint_id)
            update = {
                "last_attempt_at": now,
                "last_status_code": last.status_code,
                "last_error": last.error,
            }
            if state["success"]:
                update.update(last_success_at=now, failing_since=None)
            if state["failure"]:
                update["failing_since"] = (
                    now if state["success"] else Coalesce("failing_since", now)
                )
            endpoint.update(**update)
            if state["failure"]:
                endpoint.filter(active=True, failing_since__lte=now - timedelta(days=days)).update(
                    active=False,
                    disabled_reason=f"Switched off: every attempt failed for {days:g} days "
                    f"(last: {last.error or last.status_code})."[:255],
                )
    return kinds


def delivery_record(
    *, prepared: Prepared, outcome: Outcome, worker: str, retry: bool = True
) -> str:
    (kind,) = deliveries_record(results=[(prepared, outcome)], worker=worker, retry=retry)
    return kind


def webhooks_run(
    *, limit: int | None = None, budget_seconds: float | None = None, worker: str | None = None
) -> RunResult:
    """Deliver what is due until nothing is (or ``limit`` were taken, or the budget is spent).

    Up to ``MAILPASS_WEBHOOK_CONCURRENCY`` POSTs run at once in threads; new work is claimed as
    threads free up, so one slow endpoint never stalls the run. Outcomes are written in batches
    and claims wait for half the threads to be free (or a short while): fewer commits.
    """
    worker = worker or worker_name()
    concurrency = settings.MAILPASS_WEBHOOK_CONCURRENCY
    deadline = None if budget_seconds is None else time.monotonic() + budget_seconds
    result = RunResult()
    taken = 0
    deliveries_release_expired()
    in_flight: dict[Future, Prepared] = {}
    last_claim = 0.0
    with _http_client() as client, ThreadPoolExecutor(concurrency) as pool:
        while True:
            may_claim = (limit is None or taken < limit) and (
                deadline is None or time.monotonic() < deadline
            )
            free = concurrency - len(in_flight)
            found = 0
            claim_now = (
                may_claim
                and free > 0
                and (
                    free >= max(1, concurrency // 2)
                    or not in_flight
                    or time.monotonic() - last_claim >= CLAIM_PAUSE_SECONDS
                )
            )
            if claim_now:
                want = free if limit is None else min(free, limit - taken)
                ids = deliveries_claim(worker=worker, limit=want)
                last_claim = time.monotonic()
                found = len(ids)
                taken += found
                for prepared in deliveries_prepare(delivery_ids=ids):
                    future = pool.submit(attempt_send, client=client, prepared=prepared)
                    in_flight[future] = prepared
            if not in_flight:
                if found:
                    continue
                break
            # Wake up on finished POSTs, or now and then to claim work for free threads.
            done, _ = wait(
                list(in_flight),
                timeout=CLAIM_PAUSE_SECONDS if may_claim and free > 0 else None,
                return_when=FIRST_COMPLETED,
            )
            finished = [(in_flight.pop(future), future.result()) for future in done]
            if not finished:
                continue
            for kind in deliveries_record(results=finished, worker=worker):
                if kind == "delivered":
                    result.delivered += 1
                elif kind == "retried":
                    result.retried += 1
                elif kind == "failed":
                    result.failed += 1
    return result


@dataclass
class TestResult:
    delivery: WebhookDelivery
    outcome: Outcome


def endpoint_test_send(*, endpoint: WebhookEndpoint) -> TestResult:
    """Send ``webhook.test`` now and answer its outcome (one attempt, not retried)."""
    worker = worker_name()
    delivery = test_delivery_create(endpoint=endpoint)
    WebhookDelivery.objects.filter(pk=delivery.pk).update(
        locked_by=worker,
        locked_until=timezone.now() + timedelta(seconds=settings.MAILPASS_WEBHOOK_LEASE_SECONDS),
    )
    (prepared,) = deliveries_prepare(delivery_ids=[delivery.pk])
    with _http_client() as client:
        outcome = attempt_send(client=client, prepared=prepared)
    delivery_record(prepared=prepared, outcome=outcome, worker=worker, retry=False)
    delivery.refresh_from_db()
    return TestResult(delivery=delivery, outcome=outcome)


# --- The after-commit kick -------------------------------------------------------------------
# Kicks only cut latency (the periodic run guarantees progress). They are debounced per process
# and made from a background thread, so a broker that is down never slows a request.
KICK_DEBOUNCE_SECONDS = 1.0
_kick_lock = threading.Lock()
_kick_state = {"last": 0.0, "busy": False}


def _kick_publish() -> None:
    from webhooks.tasks import webhooks_deliver_task

    webhooks_deliver_task.apply_async(retry=False)


def _kick_work() -> None:
    try:
        if settings.CELERY_TASK_ALWAYS_EAGER:
            # The embedded default has no worker: deliver here, off the request's thread.
            try:
                webhooks_run(budget_seconds=60)
            finally:
                connection.close()
        else:
            _kick_publish()
    except Exception:
        logger.warning("webhook kick failed; the periodic run will deliver", exc_info=True)
    finally:
        with _kick_lock:
            _kick_state["busy"] = False


def webhooks_kick() -> None:
    """Ask for a webhook run now. Never blocks on the broker, never fails the caller."""
    if not settings.MAILPASS_WEBHOOK_KICK:
        return
    now = time.monotonic()
    with _kick_lock:
        if _kick_state["busy"] or now - _kick_state["last"] < KICK_DEBOUNCE_SECONDS:
            return
        _kick_state["last"], _kick_state["busy"] = now, True
    threading.Thread(target=_kick_work, name="webhooks-kick", daemon=True).start()
