"""The public tracking endpoints (API.md section 6): GET /t/o/{token}.gif and GET /t/c/{token}.

Plain Django views, outside /api/: mail clients call them with no key. A bad token is rejected
from its signature alone; recording is one INSERT. Nothing is ever cached.
"""

from django.core.exceptions import DisallowedRedirect
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.views.decorators.http import require_GET

from mail.models import EventType
from mail.tracking import (
    click_token_read,
    open_token_read,
    tracking_client_ip,
    tracking_event_record,
)

# A 1x1 transparent GIF (43 bytes).
TRANSPARENT_GIF = (
    b"GIF89a\x01\x00\x01\x00\x80\x00\x00\x00\x00\x00\xff\xff\xff!\xf9\x04\x01\x00\x00\x00\x00"
    b",\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02D\x01\x00;"
)


def _no_store(response: HttpResponse) -> HttpResponse:
    # Every fetch must reach us to be counted: no browser, proxy or image cache may keep it.
    response["Cache-Control"] = "no-store"
    response["Pragma"] = "no-cache"
    response["Expires"] = "0"
    return response


def _not_found() -> HttpResponse:
    return _no_store(HttpResponse(b"Not found.", status=404, content_type="text/plain"))


def _user_agent(request: HttpRequest) -> str:
    return request.META.get("HTTP_USER_AGENT", "")


@require_GET
def open_pixel(request: HttpRequest, token: str) -> HttpResponse:
    message_pk = open_token_read(token)
    if message_pk is None:
        return _not_found()
    recorded = tracking_event_record(
        message_pk=message_pk,
        event_type=EventType.OPEN,
        ip_address=tracking_client_ip(request.META),
        user_agent=_user_agent(request),
    )
    if not recorded:
        return _not_found()
    return _no_store(HttpResponse(TRANSPARENT_GIF, content_type="image/gif"))


@require_GET
def click_redirect(request: HttpRequest, token: str) -> HttpResponse:
    target = click_token_read(token)
    if target is None:
        return _not_found()
    # The URL comes only from the signed token: no parameter of the request can change it.
    try:
        response = HttpResponseRedirect(target.url)
    except (DisallowedRedirect, ValueError):  # not a valid Location; only http(s) is signed
        return _not_found()
    recorded = tracking_event_record(
        message_pk=target.message_pk,
        event_type=EventType.CLICK,
        ip_address=tracking_client_ip(request.META),
        user_agent=_user_agent(request),
        url=target.url,
    )
    if not recorded:
        return _not_found()
    return _no_store(response)
