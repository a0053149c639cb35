"""Open and click tracking: signed tokens and the html rewriting (API.md section 6).

Tokens are signed with Django's signing (HMAC over SECRET_KEY), so a forged or truncated token is
rejected without a database lookup, and a click token carries its target URL: the click endpoint
can only redirect to a URL the sender wrote.
"""

from typing import NamedTuple

from django.conf import settings
from django.core import signing

_OPEN_SALT = "mailpass.tracking.open"
_CLICK_SALT = "mailpass.tracking.click"


class ClickTarget(NamedTuple):
    message_pk: int
    url: str


def open_token_make(message_pk: int) -> str:
    return signing.dumps(message_pk, salt=_OPEN_SALT, compress=True)


def open_token_read(token: str) -> int | None:
    try:
        value = signing.loads(token, salt=_OPEN_SALT)
    except signing.BadSignature:
        return None
    return value if isinstance(value, int) else None


def click_token_make(message_pk: int, url: str) -> str:
    return signing.dumps([message_pk, url], salt=_CLICK_SALT, compress=True)


def click_token_read(token: str) -> ClickTarget | None:
    try:
        value = signing.loads(token, salt=_CLICK_SALT)
    except signing.BadSignature:
        return None
    if (
        isinstance(value, list)
        and len(value) == 2
        and isinstance(value[0], int)
        and isinstance(value[1], str)
    ):
        return ClickTarget(message_pk=value[0], url=value[1])
    return None


def open_pixel_url(message_pk: int) -> str:
    return f"{settings.MAILPASS_PUBLIC_URL}/t/o/{open_token_make(message_pk)}.gif"


def click_url(message_pk: int, url: str) -> str:
    return f"{settings.MAILPASS_PUBLIC_URL}/t/c/{click_token_make(message_pk, url)}"


def html_add_tracking(html: str, *, message_pk: int, track_opens: bool, track_clicks: bool) -> str:
    """The html as sent: http(s) links rewritten to click URLs, an open pixel before </body>.

    TODO(issue 3/5): implement with a real HTML parser (html.parser), never regular expressions.
    Must never raise, and must keep every byte that is not a rewritten link.
    """
    return html
