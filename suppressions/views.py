"""The suppression list API (API.md section 15): one ViewSet, one service call per action."""

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiExample,
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
)
from rest_framework.request import Request
from rest_framework.response import Response

from accounts.permissions import HasSuppressionsPermission
from mail.serializers import ErrorResponseSerializer
from mailpass.api import error_body, success_body
from mailpass.viewsets import ApiViewSet
from suppressions.selectors import suppression_get, suppression_list
from suppressions.serializers import (
    SuppressionInputSerializer,
    SuppressionListOutputSerializer,
    SuppressionListQuerySerializer,
    SuppressionListResponseSerializer,
    SuppressionOutputSerializer,
    SuppressionResponseSerializer,
)
from suppressions.services import suppression_create, suppression_remove


def _error(description: str, code: str | None = None, message: str = "") -> OpenApiResponse:
    examples = []
    if code:
        examples.append(OpenApiExample(code, value=error_body(code, message), response_only=True))
    return OpenApiResponse(ErrorResponseSerializer, description=description, examples=examples)


COMMON_ERRORS = {
    401: _error("UNAUTHORIZED: missing, malformed, unknown or revoked key"),
    403: _error(
        "FORBIDDEN: the key lacks the `suppressions` permission",
        "FORBIDDEN",
        "This API key lacks the 'suppressions' permission.",
    ),
    405: _error("METHOD_NOT_ALLOWED"),
    429: _error("RATE_LIMITED: too many requests for this key"),
    500: _error("INTERNAL_ERROR: anything unexpected (never a page or a traceback)"),
    503: _error("SERVICE_UNAVAILABLE: the database is unreachable; nothing written"),
}
NOT_FOUND = _error(
    "NOT_FOUND: the address is not on this account's list",
    "NOT_FOUND",
    "No suppression for this address.",
)
BODY_ERRORS = {
    400: _error("VALIDATION_ERROR: field errors in details"),
    413: _error("PAYLOAD_TOO_LARGE: the body is over the limit"),
    415: _error("UNSUPPORTED_MEDIA_TYPE: the body is not application/json"),
}
EMAIL_PARAMETER = OpenApiParameter(
    "email",
    OpenApiTypes.STR,
    OpenApiParameter.PATH,
    description="The address, percent-encoded or not (`user%40example.com` and "
    "`user@example.com` name the same entry); matched case-insensitively.",
    examples=[OpenApiExample("An address", value="user@example.com")],
)
ENTRY_EXAMPLE = {
    "email": "user@example.com",
    "reason": "hard_bounce",
    "message_id": "<abc123.1706600000@mailpass.im>",
    "detail": "550 5.1.1 <user@example.com>: Recipient address rejected: User unknown",
    "created_at": "2026-01-30T12:00:00Z",
}


class SuppressionViewSet(ApiViewSet):
    """GET/POST /suppressions, GET/DELETE /suppressions/{email}."""

    permission_classes = [HasSuppressionsPermission]
    # No OPTIONS (DRF's metadata document is outside the envelope): 405 like the mail API.
    http_method_names = ["get", "post", "delete", "head"]

    @extend_schema(
        operation_id="suppressions_list",
        summary="The account's suppression list, newest first, 100 a page",
        description="API.md section 15. Follow `data.next_cursor` with `?cursor=` until it "
        "is null.",
        parameters=[SuppressionListQuerySerializer],
        examples=[
            OpenApiExample(
                "One page",
                value=success_body({"suppressions": [ENTRY_EXAMPLE], "next_cursor": None}),
                response_only=True,
                status_codes=[200],
            )
        ],
        responses={
            200: SuppressionListResponseSerializer,
            400: _error("VALIDATION_ERROR: a bad `reason`, `email` or `cursor`"),
            **COMMON_ERRORS,
        },
    )
    def page(self, request: Request) -> Response:
        # A plain dict, not the QueryDict: DRF would take "?reason=" for "not given".
        query = SuppressionListQuerySerializer(data=request.query_params.dict())
        query.is_valid(raise_exception=True)
        page = suppression_list(account_id=request.user.pk, **query.validated_data)
        data = SuppressionListOutputSerializer(
            {"suppressions": page.entries, "next_cursor": page.next_cursor}
        ).data
        return Response(success_body(data))

    @extend_schema(
        operation_id="suppressions_add",
        summary="Suppress an address by hand (manual) or for an unsubscribe",
        description="API.md section 15. 201 with the new entry; 200 with the existing entry, "
        "unchanged, when the address is already on the list.",
        request=SuppressionInputSerializer,
        examples=[
            OpenApiExample(
                "Unsubscribe",
                value={
                    "email": "user@example.com",
                    "reason": "unsubscribe",
                    "detail": "clicked unsubscribe",
                },
                request_only=True,
            )
        ],
        responses={
            200: SuppressionResponseSerializer,
            201: SuppressionResponseSerializer,
            **BODY_ERRORS,
            **COMMON_ERRORS,
        },
    )
    def create(self, request: Request) -> Response:
        serializer = SuppressionInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        entry, created = suppression_create(account=request.user, **serializer.validated_data)
        return Response(
            success_body(SuppressionOutputSerializer(entry).data), status=201 if created else 200
        )

    @extend_schema(
        operation_id="suppressions_get",
        summary="One suppressed address",
        parameters=[EMAIL_PARAMETER],
        examples=[
            OpenApiExample(
                "A hard bounce",
                value=success_body(ENTRY_EXAMPLE),
                response_only=True,
                status_codes=[200],
            )
        ],
        responses={200: SuppressionResponseSerializer, 404: NOT_FOUND, **COMMON_ERRORS},
    )
    def retrieve(self, request: Request, email: str) -> Response:
        entry = suppression_get(account_id=request.user.pk, email=email)
        return Response(success_body(SuppressionOutputSerializer(entry).data))

    @extend_schema(
        operation_id="suppressions_remove",
        summary="Take an address off the list: it may be sent to again",
        description="Answers the entry that was removed.",
        parameters=[EMAIL_PARAMETER],
        responses={200: SuppressionResponseSerializer, 404: NOT_FOUND, **COMMON_ERRORS},
    )
    def destroy(self, request: Request, email: str) -> Response:
        entry = suppression_remove(account=request.user, email=email)
        return Response(success_body(SuppressionOutputSerializer(entry).data))
