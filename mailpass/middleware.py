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
        return self.get_response(request)

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
