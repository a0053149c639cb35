"""The API error envelope (API.md section 2) for DRF views and for plain Django errors."""

import logging
from typing import Any

from django.core.exceptions import PermissionDenied, RequestDataTooBig
from django.db import DatabaseError, InterfaceError, OperationalError
from django.http import Http404, HttpRequest, JsonResponse
from rest_framework import exceptions, status
from rest_framework.negotiation import BaseContentNegotiation
from rest_framework.response import Response

from mailpass.errors import ServiceError

logger = logging.getLogger(__name__)

API_PATH_PREFIX = "/api/"


def error_body(code: str, message: str, details: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "success": False,
        "error": {"code": code, "message": message, "details": details or {}},
    }


def success_body(data: dict[str, Any]) -> dict[str, Any]:
    return {"success": True, "data": data}


def _first_message(detail: Any) -> str:
    """The first human-readable message of a DRF error detail, prefixed by its field path."""
    if isinstance(detail, dict):
        for key, value in detail.items():
            inner = _first_message(value)
            if key == "non_field_errors":
                return inner
            return f"{key}: {inner}" if not inner.startswith(f"{key}") else inner
        return "Invalid input."
    if isinstance(detail, list):
        for item in detail:
            if item:
                return _first_message(item)
        return "Invalid input."
    return str(detail)


def validation_error_body(detail: Any) -> dict[str, Any]:
    """VALIDATION_ERROR envelope for a DRF ``ValidationError.detail``."""
    details = detail if isinstance(detail, dict) else {"non_field_errors": detail}
    return error_body("VALIDATION_ERROR", _first_message(details), _plain(details))


def _plain(value: Any) -> Any:
    """ErrorDetail strings and nested lists/dicts as plain JSON values."""
    if isinstance(value, dict):
        return {str(key): _plain(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_plain(item) for item in value]
    return str(value)


_DRF_CODES: list[tuple[type[exceptions.APIException], str]] = [
    (exceptions.NotAuthenticated, "UNAUTHORIZED"),
    (exceptions.AuthenticationFailed, "UNAUTHORIZED"),
    (exceptions.PermissionDenied, "FORBIDDEN"),
    (exceptions.NotFound, "NOT_FOUND"),
    (exceptions.MethodNotAllowed, "METHOD_NOT_ALLOWED"),
    (exceptions.UnsupportedMediaType, "UNSUPPORTED_MEDIA_TYPE"),
    (exceptions.Throttled, "RATE_LIMITED"),
    (exceptions.ParseError, "VALIDATION_ERROR"),
    (exceptions.NotAcceptable, "VALIDATION_ERROR"),
]


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response:
    """DRF exception handler: every error becomes the envelope, never HTML or a traceback."""
    if isinstance(exc, ServiceError):
        return Response(
            error_body(exc.code, exc.message, exc.details), status=exc.status, headers=exc.headers
        )
    if isinstance(exc, exceptions.ValidationError):
        return Response(validation_error_body(exc.detail), status=status.HTTP_400_BAD_REQUEST)
    if isinstance(exc, Http404):
        return Response(error_body("NOT_FOUND", "Not found."), status=404)
    if isinstance(exc, PermissionDenied):
        return Response(error_body("FORBIDDEN", "Permission denied."), status=403)
    if isinstance(exc, RequestDataTooBig):
        return Response(_payload_too_large_body(), status=413)
    if isinstance(exc, exceptions.APIException):
        code = next((c for cls, c in _DRF_CODES if isinstance(exc, cls)), "INTERNAL_ERROR")
        headers: dict[str, str] = {}
        if isinstance(exc, exceptions.Throttled) and exc.wait is not None:
            headers["Retry-After"] = str(max(1, int(exc.wait + 0.999)))
        auth_header = getattr(exc, "auth_header", None)
        if auth_header:
            headers["WWW-Authenticate"] = auth_header
        if code == "UNAUTHORIZED":
            headers.setdefault("WWW-Authenticate", 'Bearer realm="api"')
        message = str(exc.detail) if not isinstance(exc.detail, (dict, list)) else "Error."
        return Response(error_body(code, message), status=exc.status_code, headers=headers)
    if isinstance(exc, (OperationalError, InterfaceError)):
        logger.warning("database unavailable: %s", exc.__class__.__name__)
        return Response(
            error_body("SERVICE_UNAVAILABLE", "The service is temporarily unavailable."),
            status=503,
            headers={"Retry-After": "5"},
        )
    if isinstance(exc, DatabaseError):
        logger.exception("database error in API view")
    else:
        logger.exception("unexpected error in API view")
    return Response(error_body("INTERNAL_ERROR", "An internal error occurred."), status=500)


def _payload_too_large_body() -> dict[str, Any]:
    from django.conf import settings

    limit = settings.MAILPASS_MAX_BODY_BYTES
    return error_body(
        "PAYLOAD_TOO_LARGE",
        f"The request body is larger than {limit} bytes.",
        {"max_bytes": limit},
    )


def payload_too_large_response() -> JsonResponse:
    return JsonResponse(_payload_too_large_body(), status=413)


class JsonOnlyContentNegotiation(BaseContentNegotiation):
    """The API speaks JSON only: an Accept header never turns an answer into a 406."""

    def select_parser(self, request, parsers):
        for parser in parsers:
            if request.content_type.split(";")[0].strip().lower() == parser.media_type:
                return parser
        return None

    def select_renderer(self, request, renderers, format_suffix=None):
        return (renderers[0], renderers[0].media_type)


def is_api_request(request: HttpRequest) -> bool:
    return request.path.startswith(API_PATH_PREFIX)


# Plain Django handlers (outside DRF views): JSON on API paths, Django's defaults elsewhere.


def handler404(request: HttpRequest, exception: Exception | None = None):
    if is_api_request(request):
        return JsonResponse(error_body("NOT_FOUND", "Not found."), status=404)
    from django.views.defaults import page_not_found

    return page_not_found(request, exception)


def handler500(request: HttpRequest):
    if is_api_request(request):
        return JsonResponse(error_body("INTERNAL_ERROR", "An internal error occurred."), status=500)
    from django.views.defaults import server_error

    return server_error(request)


def handler400(request: HttpRequest, exception: Exception | None = None):
    if is_api_request(request):
        if isinstance(exception, RequestDataTooBig):
            return payload_too_large_response()
        return JsonResponse(error_body("VALIDATION_ERROR", "Bad request."), status=400)
    from django.views.defaults import bad_request

    return bad_request(request, exception)


def handler403(request: HttpRequest, exception: Exception | None = None):
    if is_api_request(request):
        return JsonResponse(error_body("FORBIDDEN", "Permission denied."), status=403)
    from django.views.defaults import permission_denied

    return permission_denied(request, exception)
