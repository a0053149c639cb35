"""The provider event endpoint (API.md section 16.1): thin, answers in the envelope of section 2.

Not a DRF view: the body must be read as the provider sent it (signatures cover the raw
bytes), SNS posts JSON as text/plain, and the URL's token, not an API key, authenticates.
"""

import logging
import math
import time

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.db import DatabaseError, InterfaceError, OperationalError
from django.http import HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt

from accounts.throttling import _window_count_incr, api_rate_parse
from feedback.selectors import provider_for_webhook_token
from feedback.webhooks import WebhookInvalid, WebhookUnavailable, webhook_handle
from mailpass.api import error_body, payload_too_large_response, success_body

logger = logging.getLogger(__name__)


def _error(status: int, code: str, message: str, details=None, headers=None) -> JsonResponse:
    response = JsonResponse(error_body(code, message, details), status=status)
    for name, value in (headers or {}).items():
        response[name] = value
    return response


def _rate_limited(provider_pk: int) -> int | None:
    """Seconds to wait when this provider's endpoint is over ``MAILPASS_FEEDBACK_RATE``."""
    limit, period = api_rate_parse(settings.MAILPASS_FEEDBACK_RATE)
    now = time.time()
    window = int(now // period)
    try:
        count = _window_count_incr(
            f"throttle:feedback:{provider_pk}:{period}:{window}", timeout=period + 5
        )
    except Exception as exc:  # the cache is down: let the request through
        logger.warning("feedback rate limit skipped, cache unavailable: %s", type(exc).__name__)
        return None
    if count <= limit:
        return None
    return max(1, math.ceil((window + 1) * period - now))


@csrf_exempt
def provider_events(request: HttpRequest, token: str) -> JsonResponse:
    if request.method != "POST":
        return _error(
            405,
            "METHOD_NOT_ALLOWED",
            f'Method "{request.method}" not allowed.',
            headers={"Allow": "POST"},
        )
    try:
        provider = provider_for_webhook_token(token=token)
    except (OperationalError, InterfaceError):
        return _error(503, "SERVICE_UNAVAILABLE", "The service is temporarily unavailable.")
    if provider is None:
        return _error(404, "NOT_FOUND", "Not found.")
    wait = _rate_limited(provider.pk)
    if wait is not None:
        return _error(
            429, "RATE_LIMITED", "Too many events for this URL.", headers={"Retry-After": str(wait)}
        )
    try:
        body = request.body
    except RequestDataTooBig:
        return payload_too_large_response()
    try:
        result = webhook_handle(provider=provider, body=body, headers=request.headers)
    except WebhookInvalid as exc:
        return _error(
            400, "VALIDATION_ERROR", f"{exc.field}: {exc.message}", {exc.field: [exc.message]}
        )
    except (WebhookUnavailable, DatabaseError) as exc:
        logger.warning("provider %s events not recorded, retry expected: %s", provider.pk, exc)
        return _error(
            503,
            "SERVICE_UNAVAILABLE",
            "The service is temporarily unavailable.",
            headers={"Retry-After": "30"},
        )
    except Exception:
        logger.exception("provider %s events failed unexpectedly", provider.pk)
        return _error(500, "INTERNAL_ERROR", "An internal error occurred.")
    return JsonResponse(
        success_body(
            {
                "recorded": result.recorded,
                "duplicates": result.duplicates,
                "ignored": result.ignored,
            }
        )
    )
