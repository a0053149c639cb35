"""The webhook endpoints API (API.md section 17): one ViewSet, one service call per action."""

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework.request import Request
from rest_framework.response import Response

from accounts.models import PERMISSION_WEBHOOKS
from accounts.permissions import HasApiKeyPermission
from mail.serializers import ErrorResponseSerializer
from mailpass.api import success_body
from mailpass.viewsets import ApiViewSet
from webhooks.delivery import endpoint_test_send
from webhooks.selectors import endpoint_get, endpoint_list
from webhooks.serializers import (
    EndpointCreateSerializer,
    EndpointDeletedResponseSerializer,
    EndpointListResponseSerializer,
    EndpointOutputSerializer,
    EndpointResponseSerializer,
    EndpointUpdateSerializer,
    EndpointWithSecretResponseSerializer,
    TestOutputSerializer,
    TestResponseSerializer,
)
from webhooks.services import (
    endpoint_create,
    endpoint_delete,
    endpoint_secret_rotate,
    endpoint_update,
)


class HasWebhooksPermission(HasApiKeyPermission):
    required_permission = PERMISSION_WEBHOOKS


def _error(description: str) -> OpenApiResponse:
    return OpenApiResponse(ErrorResponseSerializer, description=description)


COMMON_ERRORS = {
    401: _error("UNAUTHORIZED: missing, malformed, unknown or revoked key"),
    403: _error("FORBIDDEN: the key lacks the `webhooks` permission"),
    405: _error("METHOD_NOT_ALLOWED"),
    429: _error("RATE_LIMITED: too many requests for this key"),
    500: _error("INTERNAL_ERROR: anything unexpected (never a page or a traceback)"),
    503: _error("SERVICE_UNAVAILABLE: the database is unreachable; nothing written"),
}
BODY_ERRORS = {
    400: _error("VALIDATION_ERROR: field errors in details"),
    413: _error("PAYLOAD_TOO_LARGE"),
    415: _error("UNSUPPORTED_MEDIA_TYPE: the body is not application/json"),
}
NOT_FOUND = {404: _error("NOT_FOUND: no such endpoint in this account")}
ENDPOINT_ID = OpenApiParameter(
    "endpoint_id", OpenApiTypes.INT, OpenApiParameter.PATH, description="The endpoint's id."
)


def _secret_data(created) -> dict:
    data = dict(EndpointOutputSerializer(created.endpoint).data)
    data["secret"] = created.secret
    return data


class WebhookViewSet(ApiViewSet):
    permission_classes = [HasWebhooksPermission]
    http_method_names = ["get", "post", "patch", "delete", "head"]

    @extend_schema(
        operation_id="webhooks_list",
        summary="The account's webhook endpoints",
        responses={200: EndpointListResponseSerializer, **COMMON_ERRORS},
    )
    # Not named "list": drf-spectacular would document the answer as an array.
    def list_endpoints(self, request: Request) -> Response:
        endpoints = endpoint_list(account=request.user)
        data = {"endpoints": EndpointOutputSerializer(endpoints, many=True).data}
        return Response(success_body(data))

    @extend_schema(
        operation_id="webhooks_create",
        summary="Add an endpoint (at most 10 an account); the secret is shown this once",
        request=EndpointCreateSerializer,
        responses={201: EndpointWithSecretResponseSerializer, **BODY_ERRORS, **COMMON_ERRORS},
    )
    def create(self, request: Request) -> Response:
        serializer = EndpointCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        created = endpoint_create(account=request.user, **serializer.validated_data)
        return Response(success_body(_secret_data(created)), status=201)

    @extend_schema(
        operation_id="webhooks_get",
        summary="One endpoint, with its health",
        parameters=[ENDPOINT_ID],
        responses={200: EndpointResponseSerializer, **NOT_FOUND, **COMMON_ERRORS},
    )
    def retrieve(self, request: Request, endpoint_id: str) -> Response:
        endpoint = endpoint_get(account=request.user, endpoint_id=int(endpoint_id))
        return Response(success_body(EndpointOutputSerializer(endpoint).data))

    @extend_schema(
        operation_id="webhooks_update",
        summary="Change url, events, description, active (switching on resumes deliveries)",
        parameters=[ENDPOINT_ID],
        request=EndpointUpdateSerializer,
        responses={
            200: EndpointResponseSerializer,
            **BODY_ERRORS,
            **NOT_FOUND,
            **COMMON_ERRORS,
        },
    )
    def partial_update(self, request: Request, endpoint_id: str) -> Response:
        endpoint = endpoint_get(account=request.user, endpoint_id=int(endpoint_id))
        serializer = EndpointUpdateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        endpoint = endpoint_update(endpoint=endpoint, data=serializer.validated_data)
        return Response(success_body(EndpointOutputSerializer(endpoint).data))

    @extend_schema(
        operation_id="webhooks_delete",
        summary="Delete an endpoint and its deliveries",
        parameters=[ENDPOINT_ID],
        responses={200: EndpointDeletedResponseSerializer, **NOT_FOUND, **COMMON_ERRORS},
    )
    def destroy(self, request: Request, endpoint_id: str) -> Response:
        endpoint = endpoint_get(account=request.user, endpoint_id=int(endpoint_id))
        pk = endpoint.pk
        endpoint_delete(endpoint=endpoint)
        return Response(success_body({"id": pk, "deleted": True}))

    @extend_schema(
        operation_id="webhooks_rotate_secret",
        summary="A new secret, shown this once; the previous one also signs for 24 h",
        parameters=[ENDPOINT_ID],
        request=None,
        responses={200: EndpointWithSecretResponseSerializer, **NOT_FOUND, **COMMON_ERRORS},
    )
    def rotate_secret(self, request: Request, endpoint_id: str) -> Response:
        endpoint = endpoint_get(account=request.user, endpoint_id=int(endpoint_id))
        rotated = endpoint_secret_rotate(endpoint=endpoint)
        return Response(success_body(_secret_data(rotated)))

    @extend_schema(
        operation_id="webhooks_test",
        summary="Send a webhook.test event now; answers the attempt's outcome",
        parameters=[ENDPOINT_ID],
        request=None,
        responses={200: TestResponseSerializer, **NOT_FOUND, **COMMON_ERRORS},
    )
    def test(self, request: Request, endpoint_id: str) -> Response:
        endpoint = endpoint_get(account=request.user, endpoint_id=int(endpoint_id))
        result = endpoint_test_send(endpoint=endpoint)
        outcome = result.outcome
        data = {
            "webhook_id": result.delivery.webhook_id,
            "success": outcome.success,
            "status_code": outcome.status_code,
            "ms": outcome.latency_ms,
            "error": outcome.error or None,
        }
        return Response(success_body(TestOutputSerializer(data).data))
