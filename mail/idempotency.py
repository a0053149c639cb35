"""Idempotency-Key (API.md section 3): run a request's work once per key, replay its answer.

``idempotent_respond`` wraps "answer this request" for one account and key. The first request
claims the key with an INSERT (the unique constraint on account+key decides between
concurrent requests), runs, and stores the (status, body) it answered. A later request with the
same key and the same JSON body on the same endpoint gets that answer back and runs nothing;
with another body it is a 409. Only answers that ``respond`` *returns* are stored; when it
raises (400, 422, 429...), the claim is dropped so the caller can fix the request and retry
with the same key. A second request arriving while the first still runs is answered 409
(with ``Retry-After``) and runs nothing.

``respond`` is given ``bind``: a single send calls it with its message in the transaction that
stores the row, before SMTP. From then on the key belongs to that message for good: if the
request then dies (a database error on the ``sent`` update, a worker killed by a timeout),
the claim is kept, never taken over, and a retry answers from the stored message's current
status (``replay_message``) instead of sending again: at once when the request raised, after
``ABANDONED_AFTER`` when it vanished (killed); before that, 409 as for any request in progress.

A batch knows its whole answer (queue ids, message ids) once its rows are written, so it calls
``bind.answer(status, body)`` in the transaction that writes them: the rows and the answer
commit together, and a retry after that commit replays the answer and queues nothing, even
when the first request died before answering.
"""

import hashlib
import json
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from mail.models import IdempotencyRecord, Message
from mailpass.errors import IdempotencyConflict, ValidationFailed
from mailpass.rows import prepared_cursor

HEADER = "Idempotency-Key"
MAX_KEY_CHARS = 255
# A claim still without an answer after this long belongs to a request that died (the SMTP
# timeout bounds a live one far below it); a retry may then run again. Delivery is
# at-least-once in that case, as with any SMTP client that lost its connection after DATA.
ABANDONED_AFTER = timedelta(minutes=10)

Answer = tuple[int, dict[str, Any]]


def idempotency_key_read(headers: Any) -> str | None:
    """The ``Idempotency-Key`` header, None when absent; 1..255 characters else 400."""
    key = headers.get(HEADER)
    if key is None:
        return None
    if not 1 <= len(key) <= MAX_KEY_CHARS:
        message = f"Must be 1 to {MAX_KEY_CHARS} characters long."
        raise ValidationFailed(f"{HEADER}: {message}", details={HEADER: [message]})
    return key


def idempotency_request_hash(*, scope: str, payload: Any) -> str:
    """SHA-256 of the endpoint and the canonical JSON of the body (key order, spacing ignored)."""
    canonical = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(f"{scope}\n{canonical}".encode()).hexdigest()


_CLAIM_SQL = """
INSERT INTO mail_idempotencyrecord (account_id, key, request_hash, response_status,
                                    response_body, message_id, interrupted, created_at)
VALUES (%s, %s, %s, NULL, NULL, NULL, false, %s)
ON CONFLICT (account_id, key) DO NOTHING
RETURNING id
"""


def _claim(*, account_id: int, key: str, request_hash: str) -> IdempotencyRecord | None:
    """Our new claim, or None when the key is already held (the existing record is re-read).

    On PostgreSQL one statement (``ON CONFLICT DO NOTHING``): no transaction of its own, no
    error to recover from when the key is taken.
    """
    if connection.vendor != "postgresql":
        try:
            with transaction.atomic():
                return IdempotencyRecord.objects.create(
                    account_id=account_id, key=key, request_hash=request_hash
                )
        except IntegrityError:
            return None
    now = timezone.now()
    with prepared_cursor() as cursor:
        cursor.execute(_CLAIM_SQL, [account_id, key, request_hash, now])
        row = cursor.fetchone()
    if row is None:
        return None
    record = IdempotencyRecord(
        pk=row[0], account_id=account_id, key=key, request_hash=request_hash, created_at=now
    )
    record._state.adding = False
    return record


def _record_update(record_pk: int, **values: Any) -> None:
    """``IdempotencyRecord.objects.filter(pk=record_pk).update(**values)``, hand-written on
    PostgreSQL: it runs twice per request that carries a key."""
    if connection.vendor != "postgresql":
        IdempotencyRecord.objects.filter(pk=record_pk).update(**values)
        return
    columns, params = [], []
    for name, value in values.items():
        field = IdempotencyRecord._meta.get_field(name)
        columns.append(f"{field.column} = %s")
        params.append(field.get_db_prep_save(value, connection))
    with prepared_cursor() as cursor:
        cursor.execute(
            f"UPDATE mail_idempotencyrecord SET {', '.join(columns)} WHERE id = %s",
            [*params, record_pk],
        )


def _take_over(*, record: IdempotencyRecord, request_hash: str) -> IdempotencyRecord | None:
    """Reuse an expired or abandoned record; compare-and-swap so only one request wins."""
    now = timezone.now()
    changed = IdempotencyRecord.objects.filter(pk=record.pk, created_at=record.created_at).update(
        request_hash=request_hash,
        response_status=None,
        response_body=None,
        message=None,
        interrupted=False,
        created_at=now,
    )
    if not changed:
        return None
    record.request_hash, record.response_status, record.response_body = request_hash, None, None
    record.message_id, record.created_at = None, now
    return record


class IdempotencyBinding:
    """What ``respond`` is given: ties the key to what the request stores, in its transaction.

    Called with a message (a single send) it binds the key to that message; ``answer`` stores
    the request's answer at once (a batch, in the transaction that writes its rows). Without a
    key both do nothing.
    """

    def __init__(self, record_pk: int | None) -> None:
        self.record_pk = record_pk
        # Set by ``respond`` when it wrote the answer itself (``answer_statement``).
        self.answered = False

    def __call__(self, message: Message) -> None:
        if self.record_pk is not None:
            _record_update(self.record_pk, message=message.pk)

    def answer(self, status: int, body: dict[str, Any]) -> None:
        if self.record_pk is not None:
            _record_update(self.record_pk, response_status=status, response_body=body)

    def bind_statement(self) -> tuple[str, list]:
        """``self(message)`` as a write for the message's INSERT to carry (PostgreSQL,
        ``mail.services.message_insert(also=...)``): the new row's id comes from its
        ``inserted`` relation, so the keyed single send binds in the statement that stores."""
        if self.record_pk is None:
            raise RuntimeError("no Idempotency-Key: nothing to bind")
        sql = (
            "UPDATE mail_idempotencyrecord SET message_id = inserted.id FROM inserted "
            "WHERE mail_idempotencyrecord.id = %s"
        )
        return sql, [self.record_pk]

    def answer_statement(self, status: int, body: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        """``answer`` as a write for the ``sent`` update to carry (PostgreSQL, named
        parameters, ``mail.services.message_mark_sent(also=...)``): it reads that update's
        ``sent`` relation, so the answer is stored only with a message that became ``sent``,
        one round trip and one commit less. Who runs it sets ``answered``."""
        if self.record_pk is None:
            raise RuntimeError("no Idempotency-Key: nothing to answer")
        body_field = IdempotencyRecord._meta.get_field("response_body")
        sql = (
            "UPDATE mail_idempotencyrecord SET response_status = %(answer_status)s, "
            "response_body = %(answer_body)s FROM sent "
            "WHERE mail_idempotencyrecord.id = %(answer_record)s"
        )
        return sql, {
            "answer_status": status,
            "answer_body": body_field.get_db_prep_save(body, connection),
            "answer_record": self.record_pk,
        }


def idempotent_respond(
    *,
    account_id: int,
    key: str | None,
    scope: str,
    payload: Any,
    respond: Callable[[IdempotencyBinding], Answer],
    replay_message: Callable[[Message], Answer] | None = None,
) -> Answer:
    """``respond(bind)`` once per (account, key); its answer replayed for the TTL.

    ``scope`` names the endpoint (its path), so one key cannot replay another endpoint's
    answer. Raises ``IdempotencyConflict`` for another body, or while the first runs.
    A record bound to a message without a stored answer is answered by ``replay_message``.
    """
    if key is None:
        return respond(IdempotencyBinding(None))
    request_hash = idempotency_request_hash(scope=scope, payload=payload)
    ttl = timedelta(hours=settings.MAILPASS_IDEMPOTENCY_TTL_HOURS)
    record = None
    for _ in range(3):  # a lost compare-and-swap or a vanished record: look again
        record = _claim(account_id=account_id, key=key, request_hash=request_hash)
        if record is not None:
            break
        existing = IdempotencyRecord.objects.filter(account_id=account_id, key=key).first()
        if existing is None:
            continue  # dropped by its owner between our INSERT and SELECT
        age = timezone.now() - existing.created_at
        unanswered = existing.response_status is None and existing.message_id is None
        if age > ttl or (unanswered and age > ABANDONED_AFTER):
            record = _take_over(record=existing, request_hash=request_hash)
            if record is not None:
                break
            continue
        if existing.request_hash != request_hash:
            raise IdempotencyConflict(
                f"This {HEADER} was already used with a different request body.",
                details={"idempotency_key": key},
            )
        dead = existing.interrupted or age > ABANDONED_AFTER
        if existing.response_status is None and existing.message_id is not None and dead:
            message = Message.objects.filter(pk=existing.message_id).first()
            if replay_message is not None and message is not None:
                return replay_message(message)
        if existing.response_status is None:
            raise IdempotencyConflict(
                f"A request with this {HEADER} is still being processed; retry shortly.",
                details={"idempotency_key": key, "in_progress": True},
                headers={"Retry-After": "1"},
            )
        return existing.response_status, existing.response_body
    if record is None:
        raise IdempotencyConflict(
            f"A request with this {HEADER} is still being processed; retry shortly.",
            details={"idempotency_key": key, "in_progress": True},
            headers={"Retry-After": "1"},
        )

    binding = IdempotencyBinding(record.pk)
    try:
        status, body = respond(binding)
    except BaseException:
        # Dropped only while no message exists: once one does, the key stays with it.
        unanswered = IdempotencyRecord.objects.filter(pk=record.pk, response_status__isnull=True)
        unanswered.filter(message__isnull=True).delete()
        unanswered.update(interrupted=True)
        raise
    if not binding.answered:
        binding.answer(status, body)
    return status, body


def idempotency_records_purge() -> int:
    """Delete records older than the TTL (a periodic job may call this); returns how many."""
    cutoff = timezone.now() - timedelta(hours=settings.MAILPASS_IDEMPOTENCY_TTL_HOURS)
    deleted, _ = IdempotencyRecord.objects.filter(created_at__lt=cutoff).delete()
    return deleted
