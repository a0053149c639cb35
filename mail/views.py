"""The Mail Send API (API.md sections 3 to 5): one ViewSet, one service call per action.

What the OpenAPI schema says about these actions (examples, error answers, headers) lives in
``mail/schema.py``; this module is only what the endpoints do.
"""

from rest_framework.exceptions import ValidationError
from rest_framework.request import Request
from rest_framework.response import Response

from accounts.services import AuthenticationJoin
from mail.batch_serializers import BatchInputSerializer, BatchOutputSerializer
from mail.idempotency import (
    IdempotencyBinding,
    idempotency_join,
    idempotency_key_read,
    idempotent_respond,
)
from mail.models import Message, MessageStatus
from mail.queue import BatchItem, batch_enqueue
from mail.selectors import message_status_get
from mail.serializers import message_input_validate, send_output
from mail.services import message_cancel, message_send
from mail.status_serializers import status_output
from mailpass.api import error_body, success_body, validation_error_body
from mailpass.errors import SendFailed
from mailpass.viewsets import ApiViewSet
from providers.selectors import NOT_READ
from templating.services import batch_items_render


def _send_answer_from_message(message: Message) -> tuple[int, dict]:
    """A /send retried with the key of a request that died after storing its message."""
    if message.status == MessageStatus.FAILED:
        exc = SendFailed(
            f"SMTP delivery failed: {message.error_message}",
            details={"message_id": message.message_id},
        )
        return exc.status, error_body(exc.code, exc.message, exc.details)
    return 200, success_body(send_output(message))


def _batch_answer(done: list[BatchItem]) -> dict:
    queued = sum(1 for item in done if item.error is None)
    data = {"total": len(done), "queued": queued, "failed": len(done) - queued, "messages": done}
    return success_body(BatchOutputSerializer(data).data)


class MailViewSet(ApiViewSet):
    """POST /send, POST /send-batch, GET /status/{message_id}."""

    # No OPTIONS: DRF would answer it with its own metadata document (the view's name and
    # docstring), outside the envelope. Found by the schema fuzzing; 405 like any other
    # method the path does not take.
    http_method_names = ["get", "post", "head"]

    def authentication_join(self, request: Request) -> AuthenticationJoin | None:
        """The Idempotency-Key's record, read with the API key (``known`` below)."""
        return idempotency_join(request.headers)

    def send(self, request: Request) -> Response:
        key = idempotency_key_read(request.headers)
        data = message_input_validate(request.data)
        headers: dict[str, str] = {}

        def respond(bind: IdempotencyBinding) -> tuple[int, dict]:
            answers: list[dict] = []

            def sent_answer(message: Message) -> tuple[str, dict]:
                # The key's answer, written with the "sent" update (one statement).
                answers.append(success_body(send_output(message)))
                return bind.answer_statement(200, answers[0])

            keyed = bind.keyed
            try:
                result = message_send(
                    account=request.user,
                    data=data,
                    is_test=request.auth.is_test,
                    # Without a key there is nothing to bind: the row needs no transaction.
                    on_stored=bind if keyed else None,
                    # Read with the key, in the same query (accounts.services).
                    default_provider=getattr(request.auth, "default_provider", NOT_READ),
                    sent_answer=sent_answer if keyed else None,
                    # The binding written by the INSERT itself (PostgreSQL).
                    stored_statement=bind.stored_statement if keyed else None,
                )
            except SendFailed as exc:
                # Stored with the key like a success: the message exists, as "failed".
                return exc.status, error_body(exc.code, exc.message, exc.details)
            if result.limit is not None:
                headers.update(result.limit.headers())
            if result.answer_stored:
                bind.answered = True
                return 200, answers[0]
            return 200, success_body(send_output(result.message))

        status, body = idempotent_respond(
            account_id=request.user.pk,
            key=key,
            scope=request.path.rstrip("/"),
            payload=request.data,
            respond=respond,
            replay_message=_send_answer_from_message,
            known=getattr(request.auth, "joined", NOT_READ),
        )
        return Response(body, status=status, headers=headers)

    def send_batch(self, request: Request) -> Response:
        key = idempotency_key_read(request.headers)
        batch = BatchInputSerializer(data=request.data)
        batch.is_valid(raise_exception=True)
        items = []
        # Each item is validated as /send validates its body, so its error reads the same.
        for index, raw in enumerate(batch.item_inputs()):
            to = raw.get("to") if isinstance(raw, dict) else None
            item = BatchItem(index=index, to=to if isinstance(to, str) else None)
            try:
                item.data = message_input_validate(raw)
            except ValidationError as exc:
                item.error = validation_error_body(exc.detail)["error"]
            items.append(item)

        def respond(bind: IdempotencyBinding) -> tuple[int, dict]:
            answers: list[dict] = []

            def stored(done: list[BatchItem]) -> None:
                # In the transaction that writes the rows: they and the answer commit together.
                answers.append(_batch_answer(done))
                bind.answer(200, answers[0])

            batch_items_render(account=request.user, items=items)
            done = batch_enqueue(
                account=request.user,
                items=items,
                is_test=request.auth.is_test,
                on_stored=stored,
                # Read with the key, in the same query (accounts.services); None: read there.
                provider=getattr(request.auth, "default_provider", None),
            )
            return 200, answers[0] if answers else _batch_answer(done)

        status, body = idempotent_respond(
            account_id=request.user.pk,
            key=key,
            scope=request.path.rstrip("/"),
            payload=request.data,
            respond=respond,
            known=getattr(request.auth, "joined", NOT_READ),
        )
        return Response(body, status=status)

    def cancel(self, request: Request, message_id: str) -> Response:
        message = message_cancel(account=request.user, message_id=message_id)
        return Response(success_body({"message_id": message.message_id, "status": "canceled"}))

    def status(self, request: Request, message_id: str) -> Response:
        result = message_status_get(account=request.user, message_id=message_id)
        return Response(success_body(status_output(result)))
