"""Open and click tracking (API.md section 6): signed tokens, the html rewriting, recording.

Tokens are signed with Django's signing (HMAC over SECRET_KEY), so a forged or truncated token is
rejected without a database lookup, and a click token carries its target URL: the click endpoint
can only redirect to a URL the sender wrote.
"""

import html as html_lib
import ipaddress
import logging
import re
from collections.abc import Mapping
from html import parser as html_parser
from html.parser import HTMLParser
from typing import NamedTuple

from django.conf import settings
from django.core import signing
from django.db import IntegrityError, connection
from django.utils import timezone

from mail.models import EventType, Message, MessageEvent

logger = logging.getLogger(__name__)

_OPEN_SALT = "mailpass.tracking.open"
_CLICK_SALT = "mailpass.tracking.click"

USER_AGENT_MAX_LENGTH = MessageEvent._meta.get_field("user_agent").max_length


class ClickTarget(NamedTuple):
    message_pk: int
    url: str


def open_token_make(message_pk: int) -> str:
    return signing.dumps(message_pk, salt=_OPEN_SALT, compress=True)


def open_token_read(token: str) -> int | None:
    try:
        value = signing.loads(token, salt=_OPEN_SALT)
    except (signing.BadSignature, ValueError):
        return None
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def click_token_make(message_pk: int, url: str) -> str:
    return signing.dumps([message_pk, url], salt=_CLICK_SALT, compress=True)


def click_token_read(token: str) -> ClickTarget | None:
    try:
        value = signing.loads(token, salt=_CLICK_SALT)
    except (signing.BadSignature, ValueError):
        return None
    if (
        isinstance(value, list)
        and len(value) == 2
        and isinstance(value[0], int)
        and not isinstance(value[0], bool)
        and isinstance(value[1], str)
    ):
        return ClickTarget(message_pk=value[0], url=value[1])
    return None


def open_pixel_url(message_pk: int) -> str:
    return f"{settings.MAILPASS_PUBLIC_URL}/t/o/{open_token_make(message_pk)}.gif"


def click_url(message_pk: int, url: str) -> str:
    return f"{settings.MAILPASS_PUBLIC_URL}/t/c/{click_token_make(message_pk, url)}"


def open_pixel_tag(message_pk: int) -> str:
    src = html_lib.escape(open_pixel_url(message_pk), quote=True)
    return f'<img src="{src}" width="1" height="1" alt="" style="display:none" border="0">'


# --- The html rewriting -----------------------------------------------------------------------
#
# html.parser finds the <a> start tags and the last </body> end tag; their source positions are
# recorded and the replacements spliced into the ORIGINAL string, so every byte that is not a
# rewritten href is kept as the sender wrote it (whitespace, entities, comments, conditional
# comments for Outlook, broken markup).
#
# The parser is fed the whole document and never closed: close() handles an unterminated
# construct at the end (``<a `` with no ``>``, an unclosed quote, ``</``) by rescanning to the end
# of the document from each following ``<``, which is quadratic on Python 3.11.7 (120 KB of
# ``<a `` took 140 s). HTML5 treats such a construct as running to the end of the file (a tag cut
# by EOF is dropped, a comment is closed there), so the unparsed tail holds no link and no
# </body> a browser would see, and skipping close() is what a browser does.

# The parser's own grammar for a tag name and its attributes, to find an href's value inside the
# start tag's source exactly where the parser found it. They are module internals of html.parser:
# if a Python release renames them, a copy of 3.11's is used, and a link whose attributes do not
# come out as the parser reported them is left alone (see _tracking_edits).
_TAG_NAME = getattr(html_parser, "tagfind_tolerant", None) or re.compile(
    r"([a-zA-Z][^\t\n\r\f />\x00]*)(?:\s|/(?!>))*"
)
_ATTRIBUTE = getattr(html_parser, "attrfind_tolerant", None) or re.compile(
    r"((?<=[\'\"\s/])[^\s/>][^\s/=>]*)(\s*=+\s*"
    r"(\'[^\']*\'|\"[^\"]*\"|(?![\'\"])[^>\s]*))?(?:\s|/(?!>))*"
)

_URL_STRIP = "".join(chr(code) for code in range(0x21))  # C0 controls and space
_URL_REMOVE = str.maketrans("", "", "\t\n\r")


def _link_url(value: str) -> str | None:
    """The URL a browser follows for this decoded href when it is http(s), else None.

    As the URL standard does: leading/trailing C0 controls and spaces stripped, tabs and
    newlines removed. A value that cannot be encoded (a lone surrogate) is left alone.
    """
    url = value.strip(_URL_STRIP).translate(_URL_REMOVE)
    scheme = url[:8].lower()
    if scheme.startswith("http://"):
        rest = url[7:]
    elif scheme.startswith("https://"):
        rest = url[8:]
    else:
        return None
    if not rest:
        return None
    try:
        url.encode("utf-8")
    except UnicodeEncodeError:
        return None
    return url


class _TrackingScanner(HTMLParser):
    """Collects the source positions of <a href> start tags and of the last </body>."""

    def __init__(self) -> None:
        # convert_charrefs=True also matters for feeding without close(): with it, the parser
        # only ever stops at a "<" construct it cannot finish, never at a stray "&#".
        super().__init__(convert_charrefs=True)
        # (line, column) as getpos() reports them, source text, decoded href values
        self.links: list[tuple[tuple[int, int], str, list[str]]] = []
        self.body_end: tuple[int, int] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag != "a":
            return
        hrefs = [value or "" for name, value in attrs if name == "href"]
        if hrefs:
            self.links.append((self.getpos(), self.get_starttag_text() or "", hrefs))

    def handle_endtag(self, tag: str) -> None:
        if tag == "body":
            self.body_end = self.getpos()

    def parse_html_declaration(self, i: int) -> int:
        # ``<![`` that is not a valid marked section makes 3.11's parser raise AssertionError;
        # in HTML content it is a bogus comment up to the next ``>`` (HTML5), as the parser
        # already treats other unknown ``<!`` declarations.
        if self.rawdata.startswith("<![", i):
            return self.parse_bogus_comment(i)
        return super().parse_html_declaration(i)


def _absolute_offsets(text: str, positions: list[tuple[int, int]]) -> list[int]:
    """Offsets in ``text`` of (line, column) positions given in document order.

    The parser counts lines by ``\\n`` only; so does this, in one pass.
    """
    offsets = []
    line, line_start = 1, 0
    for lineno, column in positions:
        while line < lineno:
            line_start = text.index("\n", line_start) + 1
            line += 1
        offsets.append(line_start + column)
    return offsets


def _href_spans(tag_text: str) -> list[tuple[int, int, str]]:
    """(start, end, decoded value) of each href in a start tag's source; the span covers the
    value with its quotes. Found with the parser's own attribute grammar, as
    ``HTMLParser.parse_starttag`` does, so it is the attribute the parser reported."""
    spans: list[tuple[int, int, str]] = []
    match = _TAG_NAME.match(tag_text, 1)
    if not match:
        return spans
    k, end = match.end(), len(tag_text)
    while k < end:
        attr = _ATTRIBUTE.match(tag_text, k)
        if not attr:
            break
        name, rest, raw = attr.group(1, 2, 3)
        if name.lower() == "href":
            if not rest:
                spans.append((attr.end(1), attr.end(1), ""))
            else:
                value = raw
                if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
                    value = value[1:-1]
                spans.append((attr.start(3), attr.end(3), html_lib.unescape(value)))
        k = attr.end()
    return spans


def _tracking_edits(
    html: str, *, message_pk: int, track_opens: bool, track_clicks: bool
) -> list[tuple[int, int, str]]:
    """The (start, end, replacement) splices that add tracking, in document order."""
    scanner = _TrackingScanner()
    scanner.feed(html)  # never close(): see the comment above
    edits: list[tuple[int, int, str]] = []
    if track_clicks and scanner.links:
        offsets = _absolute_offsets(html, [position for position, _, _ in scanner.links])
        click_urls: dict[str, str] = {}
        for start, (_, tag_text, hrefs) in zip(offsets, scanner.links, strict=True):
            if not tag_text or not html.startswith(tag_text, start):
                continue  # the parser's position and the source disagree: leave the link be
            spans = _href_spans(tag_text)
            if [value for _, _, value in spans] != hrefs:
                continue  # not the attributes the parser saw: leave the link be
            for span_start, span_end, value in spans:
                url = _link_url(value)
                if url is None:
                    continue
                if url not in click_urls:
                    click_urls[url] = html_lib.escape(click_url(message_pk, url), quote=True)
                edits.append((start + span_start, start + span_end, f'"{click_urls[url]}"'))
    if track_opens:
        if scanner.body_end is not None:
            at = _absolute_offsets(html, [scanner.body_end])[0]
            if not html.startswith("</", at):
                at = len(html)
        elif scanner.rawdata.startswith("<"):
            # The document ends in an unterminated construct that a browser would swallow
            # to the end of the file: the pixel goes before it, where it is still seen.
            at = len(html) - len(scanner.rawdata)
        else:
            at = len(html)
        edits.append((at, at, open_pixel_tag(message_pk)))
        edits.sort(key=lambda edit: edit[0])
    return edits


def html_add_tracking(html: str, *, message_pk: int, track_opens: bool, track_clicks: bool) -> str:
    """The html as sent: http(s) links rewritten to click URLs, an open pixel before the last
    </body> (at the end when there is none).

    Never raises: on anything unexpected the html goes out without tracking rather than not
    at all. Linear in the size of the document.
    """
    if not html or not (track_opens or track_clicks):
        return html
    try:
        edits = _tracking_edits(
            html, message_pk=message_pk, track_opens=track_opens, track_clicks=track_clicks
        )
    except Exception:
        logger.exception("html tracking failed for message %s; sent without tracking", message_pk)
        return html
    pieces, cursor = [], 0
    for start, end, replacement in edits:
        pieces.append(html[cursor:start])
        pieces.append(replacement)
        cursor = end
    pieces.append(html[cursor:])
    return "".join(pieces)


# --- Recording opens and clicks ---------------------------------------------------------------


def tracking_client_ip(meta: Mapping[str, str]) -> str | None:
    """The reader's IP: REMOTE_ADDR, or the address our N trusted proxies saw.

    With MAILPASS_TRUSTED_PROXY_COUNT = N > 0, each trusted proxy appends the address it was
    reached from to X-Forwarded-For, so the Nth entry from the right is the one the outermost
    trusted proxy saw; entries left of it are whatever the client chose to send. An unusable
    setting or header falls back to REMOTE_ADDR.
    """
    remote = _ip_or_none(meta.get("REMOTE_ADDR", ""))
    trusted = _trusted_proxy_count()
    if not trusted:
        return remote
    forwarded = [part.strip() for part in meta.get("HTTP_X_FORWARDED_FOR", "").split(",")]
    if len(forwarded) < trusted:
        return remote
    return _ip_or_none(forwarded[-trusted]) or remote


def _trusted_proxy_count() -> int:
    value = getattr(settings, "MAILPASS_TRUSTED_PROXY_COUNT", 0)
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        return 0
    return value


def _ip_or_none(value: str) -> str | None:
    try:
        return str(ipaddress.ip_address(value.strip()))
    except ValueError:
        return None


def _event_insert_sql() -> str:
    """INSERT ... SELECT FROM the message by primary key: one statement that writes the event
    only if the message exists, with no lock on or update of the message row (the foreign key
    check takes PostgreSQL's weakest row lock, which no UPDATE of a non-key column waits for).
    """
    quote = connection.ops.quote_name
    event_fields = [
        MessageEvent._meta.get_field(name)
        for name in ("event_type", "ip_address", "user_agent", "url", "detail", "created_at")
    ]
    columns = [MessageEvent._meta.get_field("message").column] + [f.column for f in event_fields]
    # Typed placeholders: a NULL in a SELECT list is otherwise "text" to PostgreSQL. Only
    # there: SQLite reads CAST('2026-...' AS datetime) as NUMERIC, the number 2026.
    if connection.vendor == "postgresql":
        values = [f"CAST(%s AS {f.db_type(connection)})" for f in event_fields]
    else:
        values = ["%s" for _ in event_fields]
    message_pk = quote(Message._meta.pk.column)
    return (
        f"INSERT INTO {quote(MessageEvent._meta.db_table)} "
        f"({', '.join(quote(column) for column in columns)}) "
        f"SELECT {message_pk}, {', '.join(values)} "
        f"FROM {quote(Message._meta.db_table)} WHERE {message_pk} = %s"
    )


def tracking_event_record(
    *,
    message_pk: int,
    event_type: str,
    ip_address: str | None,
    user_agent: str,
    url: str = "",
) -> bool:
    """Record an ``open`` or ``click`` by a reader; False when the message does not exist."""
    if event_type not in (EventType.OPEN, EventType.CLICK):
        raise ValueError(f"not a tracking event: {event_type!r}")
    # PostgreSQL text cannot hold NUL; a header or a URL can.
    values = {
        "event_type": str(event_type),
        "ip_address": ip_address,
        "user_agent": user_agent.replace("\x00", "")[:USER_AGENT_MAX_LENGTH],
        "url": url.replace("\x00", "%00"),
        "detail": "",
        "created_at": timezone.now(),
    }
    params = [
        MessageEvent._meta.get_field(name).get_db_prep_save(value, connection)
        for name, value in values.items()
    ]
    try:
        with connection.cursor() as cursor:
            cursor.execute(_event_insert_sql(), [*params, message_pk])
            return cursor.rowcount == 1
    except IntegrityError:
        # The message was deleted between the SELECT and the foreign key check.
        return False
