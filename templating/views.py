"""The templates API (API.md section 13): one ViewSet, one service call per action."""

from drf_spectacular.utils import OpenApiExample, OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework.request import Request
from rest_framework.response import Response

from accounts.permissions import HasTemplatesPermission
from mail.serializers import ErrorResponseSerializer
from mailpass.api import success_body
from mailpass.errors import ValidationFailed
from mailpass.viewsets import ApiViewSet
from templating.selectors import CURSOR_MAX_LENGTH, template_get, templates_page
from templating.serializers import (
    RenderedOutputSerializer,
    RenderedResponseSerializer,
    TemplateCreateInputSerializer,
    TemplateDeletedResponseSerializer,
    TemplateListOutputSerializer,
    TemplateListResponseSerializer,
    TemplateOutputSerializer,
    TemplateRenderInputSerializer,
    TemplateReplaceInputSerializer,
    TemplateResponseSerializer,
)
from templating.services import (
    template_create,
    template_delete,
    template_render,
    template_replace,
)


def _error(description: str) -> OpenApiResponse:
    return OpenApiResponse(ErrorResponseSerializer, description=description)


COMMON_ERRORS = {
    401: _error("UNAUTHORIZED: missing, malformed, unknown or revoked key"),
    403: _error("FORBIDDEN: the key lacks the `templates` permission"),
    405: _error("METHOD_NOT_ALLOWED"),
    429: _error("RATE_LIMITED: too many requests for this key"),
    500: _error("INTERNAL_ERROR: anything unexpected"),
    503: _error("SERVICE_UNAVAILABLE: the database is unreachable"),
}
BODY_ERRORS = {
    400: _error("VALIDATION_ERROR: field errors in details"),
    413: _error("PAYLOAD_TOO_LARGE: the body is over the limit"),
    415: _error("UNSUPPORTED_MEDIA_TYPE: the body is not application/json"),
}
NOT_FOUND = {404: _error("NOT_FOUND: no template of this name in the account")}
NAME_PARAMETER = OpenApiParameter(
    "name",
    {"type": "string", "pattern": "^[a-z0-9_-]{1,100}$"},
    OpenApiParameter.PATH,
    description="The template's name.",
    examples=[OpenApiExample("Order confirmation", value="order-confirmation")],
)
EXAMPLE_TEMPLATE = {
    "name": "order-confirmation",
    "subject": "Order {{ order.id }} confirmed",
    "html": "<h1>Thanks, {{ name }}!</h1><p>Order {{ order.id }} is on its way.</p>",
    "text": "Thanks, {{ name }}! Order {{ order.id }} is on its way.",
}


class TemplateViewSet(ApiViewSet):
    """GET/POST /templates, GET/PUT/DELETE /templates/{name}, POST /templates/{name}/render."""

    permission_classes = [HasTemplatesPermission]
    http_method_names = ["get", "post", "put", "delete", "head"]

    @extend_schema(
        operation_id="templates_list",
        summary="The account's templates, by name, a page at a time",
        parameters=[
            OpenApiParameter(
                "cursor",
                {"type": "string", "minLength": 1, "maxLength": CURSOR_MAX_LENGTH},
                OpenApiParameter.QUERY,
                description="`data.next_cursor` of the previous page; absent for the first.",
            )
        ],
        responses={
            200: TemplateListResponseSerializer,
            400: _error("VALIDATION_ERROR: a cursor this API did not give out"),
            **COMMON_ERRORS,
        },
    )
    def list_templates(self, request: Request) -> Response:
        unknown = sorted(set(request.query_params) - {"cursor"})
        if unknown:  # as unknown body fields: a typo must not pass silently
            raise ValidationFailed(
                f"{unknown[0]}: Unknown query parameter.",
                details={name: ["Unknown query parameter."] for name in unknown},
            )
        cursor = request.query_params.get("cursor")
        if cursor is not None and not 0 < len(cursor) <= CURSOR_MAX_LENGTH:
            # An empty cursor is not the first page: that is no cursor at all.
            raise ValidationFailed(
                "cursor: Not a cursor this API gave out.",
                details={"cursor": ["Not a cursor this API gave out."]},
            )
        page = templates_page(account=request.user, cursor=cursor)
        return Response(success_body(TemplateListOutputSerializer(page).data))

    @extend_schema(
        operation_id="templates_create",
        summary="Create a template",
        description="A taken name, broken syntax, or neither html nor text: VALIDATION_ERROR "
        "naming the field.",
        request=TemplateCreateInputSerializer,
        examples=[OpenApiExample("Order confirmation", value=EXAMPLE_TEMPLATE, request_only=True)],
        responses={201: TemplateResponseSerializer, **BODY_ERRORS, **COMMON_ERRORS},
    )
    def create(self, request: Request) -> Response:
        serializer = TemplateCreateInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        template = template_create(account=request.user, **serializer.validated_data)
        return Response(success_body(TemplateOutputSerializer(template).data), status=201)

    @extend_schema(
        operation_id="templates_get",
        summary="One template",
        parameters=[NAME_PARAMETER],
        responses={200: TemplateResponseSerializer, **NOT_FOUND, **COMMON_ERRORS},
    )
    def retrieve(self, request: Request, name: str) -> Response:
        template = template_get(account=request.user, name=name)
        return Response(success_body(TemplateOutputSerializer(template).data))

    @extend_schema(
        operation_id="templates_replace",
        summary="Replace a template's subject, html and text",
        parameters=[NAME_PARAMETER],
        request=TemplateReplaceInputSerializer,
        responses={
            200: TemplateResponseSerializer,
            **BODY_ERRORS,
            **NOT_FOUND,
            **COMMON_ERRORS,
        },
    )
    def update(self, request: Request, name: str) -> Response:
        template = template_get(account=request.user, name=name)
        serializer = TemplateReplaceInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        template = template_replace(template=template, **serializer.validated_data)
        return Response(success_body(TemplateOutputSerializer(template).data))

    @extend_schema(
        operation_id="templates_delete",
        summary="Delete a template (messages already sent keep their content)",
        parameters=[NAME_PARAMETER],
        responses={200: TemplateDeletedResponseSerializer, **NOT_FOUND, **COMMON_ERRORS},
    )
    def destroy(self, request: Request, name: str) -> Response:
        template = template_get(account=request.user, name=name)
        template_delete(template=template)
        return Response(success_body({"name": name, "deleted": True}))

    @extend_schema(
        operation_id="templates_render",
        summary="Render a template with variables; sends nothing",
        description="A variable the template uses and the body does not give is a "
        "VALIDATION_ERROR on `variables.NAME`; anything else the template does wrong (an escape "
        "attempt, over 1 MiB of output or 1 s) names the part: `subject`, `html` or `text`.",
        parameters=[NAME_PARAMETER],
        request=TemplateRenderInputSerializer,
        examples=[
            OpenApiExample(
                "Variables",
                value={"variables": {"name": "Ada", "order": {"id": "12345"}}},
                request_only=True,
            )
        ],
        responses={
            200: RenderedResponseSerializer,
            **BODY_ERRORS,
            **NOT_FOUND,
            **COMMON_ERRORS,
        },
    )
    def render_preview(self, request: Request, name: str) -> Response:
        template = template_get(account=request.user, name=name)
        serializer = TemplateRenderInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        rendered = template_render(
            template=template, variables=serializer.validated_data.get("variables", {})
        )
        return Response(success_body(RenderedOutputSerializer(rendered).data))
