"""The Mail Send API (API.md sections 3 to 5): one ViewSet, one service call per action."""

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import viewsets
from rest_framework.request import Request
from rest_framework.response import Response

from mail.batch_serializers import (
    BatchInputSerializer,
    BatchOutputSerializer,
    BatchResponseSerializer,
)
from mail.idempotency import HEADER as IDEMPOTENCY_HEADER
from mail.idempotency import idempotency_key_read, idempotent_respond
from mail.queue import BatchItem, batch_enqueue
from mail.selectors import message_status_get
from mail.serializers import (
    ErrorResponseSerializer,
    MessageInputSerializer,
    SendOutputSerializer,
    SendResponseSerializer,
)
from mail.services import message_send
from mail.status_serializers import StatusOutputSerializer, StatusResponseSerializer
from mailpass.api import error_body, success_body, validation_error_body
from mailpass.errors import SendFailed


def _error(description: str) -> OpenApiResponse:
    return OpenApiResponse(ErrorResponseSerializer, description=description)


IDEMPOTENCY_PARAMETER = OpenApiParameter(
    IDEMPOTENCY_HEADER,
    OpenApiTypes.STR,
    OpenApiParameter.HEADER,
    description="1..255 characters; the same key and body within 24 h replays the first answer.",
)


class MailViewSet(viewsets.ViewSet):
    """POST /send, POST /send-batch, GET /status/{message_id}."""

    @extend_schema(
        operation_id="mail_send",
        summary="Send one email now through the default SMTP provider",
        request=MessageInputSerializer,
        parameters=[IDEMPOTENCY_PARAMETER],
        responses={
            200: SendResponseSerializer,
            400: _error("VALIDATION_ERROR (field errors in details)"),
            401: _error("UNAUTHORIZED"),
            403: _error("FORBIDDEN"),
            409: _error("IDEMPOTENCY_CONFLICT"),
            413: _error("PAYLOAD_TOO_LARGE"),
            415: _error("UNSUPPORTED_MEDIA_TYPE"),
            422: _error("NO_SMTP_PROVIDER"),
            429: _error("SEND_LIMIT_EXCEEDED or RATE_LIMITED, with Retry-After"),
            500: _error("SEND_FAILED (details.message_id names the stored message)"),
        },
    )
    def send(self, request: Request) -> Response:
        key = idempotency_key_read(request.headers)
        serializer = MessageInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        headers: dict[str, str] = {}

        def respond() -> tuple[int, dict]:
            try:
                result = message_send(
                    account=request.user,
                    data=serializer.validated_data,
                    is_test=request.auth.is_test,
                )
            except SendFailed as exc:
                # Stored with the key like a success: the message exists, as "failed".
                return exc.status, error_body(exc.code, exc.message, exc.details)
            if result.limit is not None:
                headers.update(result.limit.headers())
            return 200, success_body(SendOutputSerializer(result.message).data)

        status, body = idempotent_respond(
            account_id=request.user.pk,
            key=key,
            scope=request.path.rstrip("/"),
            payload=request.data,
            respond=respond,
        )
        return Response(body, status=status, headers=headers)

    @extend_schema(
        operation_id="mail_send_batch",
        summary="Queue 1..100 emails; workers send them",
        request=BatchInputSerializer,
        parameters=[IDEMPOTENCY_PARAMETER],
        responses={
            200: BatchResponseSerializer,
            400: _error("VALIDATION_ERROR of the whole request (items fail one by one)"),
            401: _error("UNAUTHORIZED"),
            403: _error("FORBIDDEN"),
            409: _error("IDEMPOTENCY_CONFLICT"),
            413: _error("PAYLOAD_TOO_LARGE"),
            415: _error("UNSUPPORTED_MEDIA_TYPE"),
            422: _error("NO_SMTP_PROVIDER (nothing queued)"),
            429: _error("RATE_LIMITED, with Retry-After"),
        },
    )
    def send_batch(self, request: Request) -> Response:
        key = idempotency_key_read(request.headers)
        batch = BatchInputSerializer(data=request.data)
        batch.is_valid(raise_exception=True)
        items = []
        for index, raw in enumerate(batch.item_inputs()):
            to = raw.get("to") if isinstance(raw, dict) else None
            item = BatchItem(index=index, to=to if isinstance(to, str) else None)
            serializer = MessageInputSerializer(data=raw)
            if serializer.is_valid():
                item.data = serializer.validated_data
            else:
                item.error = validation_error_body(serializer.errors)["error"]
            items.append(item)

        def respond() -> tuple[int, dict]:
            done = batch_enqueue(account=request.user, items=items, is_test=request.auth.is_test)
            queued = sum(1 for item in done if item.error is None)
            data = {
                "total": len(done),
                "queued": queued,
                "failed": len(done) - queued,
                "messages": done,
            }
            return 200, success_body(BatchOutputSerializer(data).data)

        status, body = idempotent_respond(
            account_id=request.user.pk,
            key=key,
            scope=request.path.rstrip("/"),
            payload=request.data,
            respond=respond,
        )
        return Response(body, status=status)

    @extend_schema(
        operation_id="mail_status",
        summary="A message's status and its events (lifecycle, opens, clicks)",
        parameters=[
            OpenApiParameter(
                "message_id",
                OpenApiTypes.STR,
                OpenApiParameter.PATH,
                description=(
                    "The id /send or /send-batch returned, with or without the angle "
                    "brackets, percent-encoded or not: `%3Cabc%40mailpass.im%3E`, "
                    "`<abc@mailpass.im>` and `abc@mailpass.im` name the same message."
                ),
            )
        ],
        responses={
            200: StatusResponseSerializer,
            401: _error("UNAUTHORIZED"),
            403: _error("FORBIDDEN"),
            404: _error("NOT_FOUND: unknown id, or a message of another account"),
            429: _error("RATE_LIMITED, with Retry-After"),
        },
    )
    def status(self, request: Request, message_id: str) -> Response:
        result = message_status_get(account=request.user, message_id=message_id)
        data = StatusOutputSerializer({"message": result.message, "events": result.events}).data
        return Response(success_body(data))
