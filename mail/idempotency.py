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

The mail endpoints read the key's record in the API key's authentication read
(``MailViewSet.authentication_join``). When there is none, the claim is *deferred*: made by the
request's first write and with it (the single send's INSERT carries it), so a new key costs
no statement of its own. Until that write the request has claimed nothing, as a request
that fails validation claims nothing; if another request with the key claims it in between,
that write fails as a whole and the request is answered as a duplicate (409 or the replay).
"""

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from accounts.services import AuthenticationJoin
from mail.models import IdempotencyRecord, Message
from mailpass.errors import IdempotencyConflict, ValidationFailed
from mailpass.rows import prepared_cursor
from providers.selectors import NOT_READ, NotRead

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


_CLAIM_INTO = """
INSERT INTO mail_idempotencyrecord (account_id, key, request_hash, response_status,
                                    response_body, message_id, interrupted, created_at)
"""
_CLAIM_SQL = f"""{_CLAIM_INTO}
VALUES (%s, %s, %s, NULL, NULL, %s, false, %s)
ON CONFLICT (account_id, key) DO NOTHING
RETURNING id
"""
# The claim as a write that the message's INSERT carries (it reads ``inserted``). No ON
# CONFLICT: when another request took the key meanwhile, the unique constraint fails the
# whole statement, so no message is stored without its claim (``_key_taken``).
_CLAIM_WITH_INSERT_SQL = f"""{_CLAIM_INTO}
SELECT %s, %s, %s, NULL, NULL, inserted.id, false, %s FROM inserted
"""
_UNIQUE_KEY = "mail_idempotency_unique_key"


class IdempotencyClaimLost(Exception):
    """A claim made late (``IdempotencyBinding``, deferred) found the key taken by a request
    that claimed it meanwhile: nothing of this request was stored."""


def _key_taken(exc: BaseException) -> bool:
    """Whether ``exc`` says that the claim lost the key to another request."""
    if isinstance(exc, IdempotencyClaimLost):
        return True
    if not isinstance(exc, IntegrityError):
        return False
    diag = getattr(exc.__cause__, "diag", None)
    return getattr(diag, "constraint_name", None) == _UNIQUE_KEY


def _claim(
    *, account_id: int, key: str, request_hash: str, message_id: int | None = None
) -> IdempotencyRecord | None:
    """Our new claim, or None when the key is already held (the existing record is re-read).

    On PostgreSQL one statement (``ON CONFLICT DO NOTHING``): no transaction of its own, no
    error to recover from when the key is taken. ``message_id``: claimed and bound at once.
    """
    if connection.vendor != "postgresql":
        try:
            with transaction.atomic():
                return IdempotencyRecord.objects.create(
                    account_id=account_id,
                    key=key,
                    request_hash=request_hash,
                    message_id=message_id,
                )
        except IntegrityError:
            return None
    now = timezone.now()
    with prepared_cursor() as cursor:
        cursor.execute(_CLAIM_SQL, [account_id, key, request_hash, message_id, now])
        row = cursor.fetchone()
    if row is None:
        return None
    record = IdempotencyRecord(
        pk=row[0],
        account_id=account_id,
        key=key,
        request_hash=request_hash,
        message_id=message_id,
        created_at=now,
    )
    record._state.adding = False
    return record


def _record_update(lookup: dict[str, Any], **values: Any) -> None:
    """``IdempotencyRecord.objects.filter(**lookup).update(**values)``, hand-written on
    PostgreSQL: it runs twice per request that carries a key."""
    if connection.vendor != "postgresql":
        IdempotencyRecord.objects.filter(**lookup).update(**values)
        return
    columns, params = [], []
    for name, value in values.items():
        field = IdempotencyRecord._meta.get_field(name)
        columns.append(f"{field.column} = %s")
        params.append(field.get_db_prep_save(value, connection))
    where = []
    for name, value in lookup.items():
        field = IdempotencyRecord._meta.get_field(name)
        where.append(f"{field.column} = %s")
        params.append(field.get_db_prep_value(value, connection))
    with prepared_cursor() as cursor:
        cursor.execute(
            f"UPDATE mail_idempotencyrecord SET {', '.join(columns)} WHERE {' AND '.join(where)}",
            params,
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


@dataclass(frozen=True)
class _DeferredClaim:
    """A claim not made yet: the key, and the ``created_at`` it will carry (with the account
    and the key, it names our record even before we know its id)."""

    account_id: int
    key: str
    request_hash: str
    created_at: datetime


class IdempotencyBinding:
    """What ``respond`` is given: ties the key to what the request stores, in its transaction.

    Called with a message (a single send) it binds the key to that message; ``answer`` stores
    the request's answer at once (a batch, in the transaction that writes its rows). Without a
    key both do nothing.

    A binding is made with its record already claimed (``record_pk``), or *deferred* when the
    authentication read found no record for the key: the claim is then made by the first write
    of the request, with it: the message's INSERT carries it (``stored_statement``), or
    ``self(message)`` / ``answer`` make it. A request that fails before writing anything then
    claimed nothing, and one that lost the key to a concurrent request meanwhile stored
    nothing (``IdempotencyClaimLost``, or the INSERT's unique violation).
    """

    def __init__(self, record_pk: int | None, *, deferred: _DeferredClaim | None = None) -> None:
        self.record_pk = record_pk
        self.deferred = deferred
        # Whether the deferred claim went out with the message's INSERT (``stored_statement``).
        self.claim_carried = False
        # Set by ``respond`` when it wrote the answer itself (``answer_statement``).
        self.answered = False

    @property
    def keyed(self) -> bool:
        return self.record_pk is not None or self.deferred is not None

    def _lookup(self) -> dict[str, Any]:
        """How our record is found: its id, or (deferred) the unique key and our stamp."""
        if self.record_pk is not None:
            return {"id": self.record_pk}
        claim = self.deferred
        return {"account_id": claim.account_id, "key": claim.key, "created_at": claim.created_at}

    def _claim_now(self, *, message_id: int | None = None) -> bool:
        """Make a deferred claim not made yet (True: made, bound to ``message_id`` if given);
        raise ``IdempotencyClaimLost`` when another request holds the key."""
        if self.record_pk is not None or self.deferred is None or self.claim_carried:
            return False
        claim = self.deferred
        record = _claim(
            account_id=claim.account_id,
            key=claim.key,
            request_hash=claim.request_hash,
            message_id=message_id,
        )
        if record is None:
            raise IdempotencyClaimLost(claim.key)
        self.record_pk = record.pk
        return True

    def __call__(self, message: Message) -> None:
        if self.keyed and not self._claim_now(message_id=message.pk):
            _record_update(self._lookup(), message=message.pk)

    def answer(self, status: int, body: dict[str, Any]) -> None:
        if self.keyed:
            self._claim_now()
            _record_update(self._lookup(), response_status=status, response_body=body)

    def stored_statement(self) -> tuple[str, list]:
        """``self(message)`` as a write for the message's INSERT to carry (PostgreSQL,
        ``mail.services.message_insert(also=...)``): the new row's id comes from its
        ``inserted`` relation, so the keyed single send claims (deferred) or binds the key in
        the statement that stores. Call it only to run it."""
        if self.record_pk is not None:
            sql = (
                "UPDATE mail_idempotencyrecord SET message_id = inserted.id FROM inserted "
                "WHERE mail_idempotencyrecord.id = %s"
            )
            return sql, [self.record_pk]
        if self.deferred is None:
            raise RuntimeError("no Idempotency-Key: nothing to bind")
        claim = self.deferred
        self.claim_carried = True
        return _CLAIM_WITH_INSERT_SQL, [
            claim.account_id,
            claim.key,
            claim.request_hash,
            claim.created_at,
        ]

    def answer_statement(self, status: int, body: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        """``answer`` as a write for the ``sent`` update to carry (PostgreSQL, named
        parameters, ``mail.services.message_mark_sent(also=...)``): it reads that update's
        ``sent`` relation, so the answer is stored only with a message that became ``sent``,
        one round trip and one commit less. Who runs it sets ``answered``."""
        if not self.keyed:
            raise RuntimeError("no Idempotency-Key: nothing to answer")
        body_field = IdempotencyRecord._meta.get_field("response_body")
        params: dict[str, Any] = {
            "answer_status": status,
            "answer_body": body_field.get_db_prep_save(body, connection),
        }
        where = []
        for name, value in self._lookup().items():  # our record, as everywhere else
            where.append(f"mail_idempotencyrecord.{name} = %(answer_{name})s")
            params[f"answer_{name}"] = value
        sql = (
            "UPDATE mail_idempotencyrecord SET response_status = %(answer_status)s, "
            f"response_body = %(answer_body)s FROM sent WHERE {' AND '.join(where)}"
        )
        return sql, params

    def release(self) -> None:
        """The request raised: drop our claim while no message exists (the caller may fix the
        request and retry with the key); once one does, the key stays with it, marked
        ``interrupted``. A deferred claim never made leaves nothing to drop."""
        if self.record_pk is None and not self.claim_carried:
            return
        unanswered = IdempotencyRecord.objects.filter(
            **self._lookup(), response_status__isnull=True
        )
        unanswered.filter(message__isnull=True).delete()
        unanswered.update(interrupted=True)


def _respond_bound(
    binding: IdempotencyBinding, respond: Callable[[IdempotencyBinding], Answer]
) -> Answer:
    """``respond(binding)``, its answer stored with the key; the claim released if it raises
    (unless it raised because the key was another request's: then nothing is ours)."""
    try:
        status, body = respond(binding)
    except BaseException as exc:
        if not _key_taken(exc):
            binding.release()
        raise
    if not binding.answered:
        binding.answer(status, body)
    return status, body


def idempotent_respond(
    *,
    account_id: int,
    key: str | None,
    scope: str,
    payload: Any,
    respond: Callable[[IdempotencyBinding], Answer],
    replay_message: Callable[[Message], Answer] | None = None,
    known: IdempotencyRecord | None | NotRead = NOT_READ,
) -> Answer:
    """``respond(bind)`` once per (account, key); its answer replayed for the TTL.

    ``scope`` names the endpoint (its path), so one key cannot replay another endpoint's
    answer. Raises ``IdempotencyConflict`` for another body, or while the first runs.
    A record bound to a message without a stored answer is answered by ``replay_message``.
    ``known``: the key's record as the caller read it (the authentication read does, at
    the view's ``authentication_join``), None when it read none: the claim is then deferred to
    the request's first write, one round trip and one commit less.
    """
    if key is None:
        return respond(IdempotencyBinding(None))
    request_hash = idempotency_request_hash(scope=scope, payload=payload)
    if known is None:
        deferred = _DeferredClaim(account_id, key, request_hash, timezone.now())
        try:
            return _respond_bound(IdempotencyBinding(None, deferred=deferred), respond)
        except (IdempotencyClaimLost, IntegrityError) as exc:
            if not _key_taken(exc):
                raise
            known = NOT_READ  # claimed by another request meanwhile: look at its record
    ttl = timedelta(hours=settings.MAILPASS_IDEMPOTENCY_TTL_HOURS)
    record = None
    for attempt in range(3):  # a lost compare-and-swap or a vanished record: look again
        if attempt == 0 and isinstance(known, IdempotencyRecord):
            existing = known
        else:
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
    return _respond_bound(IdempotencyBinding(record.pk), respond)


def idempotency_join(headers: Any) -> AuthenticationJoin | None:
    """The key's record, to be read by the authentication read (None without a usable key:
    the view then answers as usual, a bad key with 400)."""
    key = headers.get(HEADER)
    if key is None or not 1 <= len(key) <= MAX_KEY_CHARS:
        return None
    return AuthenticationJoin(
        model=IdempotencyRecord,
        condition="j.account_id = k.account_id AND j.key = %s",
        params=(key,),
    )


def idempotency_records_purge() -> int:
    """Delete records older than the TTL (a periodic job may call this); returns how many."""
    cutoff = timezone.now() - timedelta(hours=settings.MAILPASS_IDEMPOTENCY_TTL_HOURS)
    deleted, _ = IdempotencyRecord.objects.filter(created_at__lt=cutoff).delete()
    return deleted
