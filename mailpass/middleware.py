"""Middleware that keeps every answer under /api/ in the JSON envelope."""

import logging
from collections.abc import Callable

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.db import InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse, JsonResponse

from mailpass.api import error_body, is_api_request, payload_too_large_response

logger = logging.getLogger(__name__)


class ApiBodySizeLimitMiddleware:
    """413 PAYLOAD_TOO_LARGE before the view runs, JSON for errors outside DRF views, no-store.

    Checking Content-Length up front means an oversized body is refused without being read.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if not is_api_request(request):
            return self.get_response(request)
        response = self._api_response(request)
        # API answers are per key and per moment (message status, errors): no shared cache may
        # keep or replay them.
        if not response.has_header("Cache-Control"):
            response["Cache-Control"] = "no-store"
        return response

    def _api_response(self, request: HttpRequest) -> HttpResponse:
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            return JsonResponse(
                error_body("VALIDATION_ERROR", "Invalid Content-Length header."), status=400
            )
        if length > settings.MAILPASS_MAX_BODY_BYTES:
            return payload_too_large_response()
        return _as_envelope(self.get_response(request))

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if not is_api_request(request):
            return None
        if isinstance(exception, RequestDataTooBig):
            return payload_too_large_response()
        if isinstance(exception, (OperationalError, InterfaceError)):
            return JsonResponse(
                error_body("SERVICE_UNAVAILABLE", "The service is temporarily unavailable."),
                status=503,
                headers={"Retry-After": "5"},
            )
        logger.exception("unexpected error on an API path", exc_info=exception)
        return JsonResponse(error_body("INTERNAL_ERROR", "An internal error occurred."), status=500)


# Django answers some errors on its own, before or around any view: with DEBUG on, an unknown
# URL is the technical 404 page (handler404 is not used) and a crash outside a view is the
# technical 500 page. Under /api/ those become the envelope too.
_STATUS_CODES = {
    400: ("VALIDATION_ERROR", "Bad request."),
    401: ("UNAUTHORIZED", "Authentication required."),
    403: ("FORBIDDEN", "Permission denied."),
    404: ("NOT_FOUND", "Not found."),
    405: ("METHOD_NOT_ALLOWED", "Method not allowed."),
    413: ("PAYLOAD_TOO_LARGE", "The request body is too large."),
    415: ("UNSUPPORTED_MEDIA_TYPE", "Unsupported media type."),
    429: ("RATE_LIMITED", "Too many requests."),
    503: ("SERVICE_UNAVAILABLE", "The service is temporarily unavailable."),
}


def _as_envelope(response: HttpResponse) -> HttpResponse:
    if response.status_code < 400 or response.get("Content-Type", "").startswith(
        "application/json"
    ):
        return response
    if response.status_code == 413:
        return payload_too_large_response()
    code, message = _STATUS_CODES.get(
        response.status_code, ("INTERNAL_ERROR", "An internal error occurred.")
    )
    replacement = JsonResponse(error_body(code, message), status=response.status_code)
    for header in ("Allow", "Retry-After", "WWW-Authenticate"):
        if header in response:
            replacement[header] = response[header]
    return replacement
