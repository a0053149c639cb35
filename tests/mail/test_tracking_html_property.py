"""Property tests: the rewriting never raises and can be undone exactly."""

import html
import re
from html.parser import HTMLParser

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mail.tracking import click_token_read, html_add_tracking, open_token_read

PUBLIC = "https://mp.example"
# The autouse settings fixture sets a constant: sharing it between examples is fine.
SUPPRESSED = [HealthCheck.too_slow, HealthCheck.function_scoped_fixture]
CLICK_VALUE = re.compile(r'"https://mp\.example/t/c/([^"]+)"')
PIXEL = re.compile(r'<img src="https://mp\.example/t/o/([^"]+)\.gif"[^>]*>')

urls = st.one_of(
    st.builds(
        # Canonical: nothing a browser would strip, so the original can be written back.
        lambda scheme, host, path: f"{scheme}://{host}/{path.strip()}",
        st.sampled_from(["http", "https", "HTTPS", "Http"]),
        st.from_regex(r"[a-z0-9]{1,10}\.(com|de|example)", fullmatch=True),
        st.text(alphabet="abc/?=&#%;.-_~+é<>\"' ", max_size=20),
    ),
    st.sampled_from(["mailto:a@b.c", "tel:+1", "#top", "/rel", "ftp://x", "", "http://"]),
)


@pytest.fixture(autouse=True)
def _public_url(settings):
    settings.MAILPASS_PUBLIC_URL = PUBLIC


def link(url: str) -> str:
    return f'<a href="{html.escape(url, quote=True)}">x</a>'


junk = st.text(alphabet="<>/!-?&#;'\"= abAB\n\tbody", max_size=12)
fragments = st.one_of(
    urls.map(link),
    junk,
    st.sampled_from(
        ["<p>", "</p>", "<body>", "</body>", "</BODY>", "<!-- c -->", "<br/>", "&amp;", "text"]
    ),
)


def pixel_removed(result: str) -> str:
    return PIXEL.sub("", result, count=1)


def links_restored(result: str) -> str:
    def original(match: re.Match) -> str:
        target = click_token_read(html.unescape(match.group(1)))
        assert target is not None and target.message_pk == 42
        return '"' + html.escape(target.url, quote=True) + '"'

    return CLICK_VALUE.sub(original, result)


@settings(max_examples=300, deadline=None, suppress_health_check=SUPPRESSED)
@given(source=st.text(max_size=300), opens=st.booleans(), clicks=st.booleans())
def test_it_never_raises_on_any_text(source, opens, clicks):
    result = html_add_tracking(source, message_pk=1, track_opens=opens, track_clicks=clicks)
    assert isinstance(result, str)
    if not clicks:
        assert pixel_removed(result) == source or not source


@settings(max_examples=300, deadline=None, suppress_health_check=SUPPRESSED)
@given(parts=st.lists(fragments, max_size=25))
def test_removing_the_pixel_and_mapping_click_urls_back_gives_the_original(parts):
    source = "".join(parts)
    result = html_add_tracking(source, message_pk=42, track_opens=True, track_clicks=True)
    if source:
        assert open_token_read(PIXEL.search(result).group(1)) == 42
    assert links_restored(pixel_removed(result)) == source


class _Events(HTMLParser):
    """What a parser sees: tags with decoded attributes; click URLs mapped back."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.events: list = []

    def handle_starttag(self, tag, attrs):
        mapped = []
        for name, value in attrs:
            if name == "href" and value and value.startswith(f"{PUBLIC}/t/c/"):
                value = ("clicked", click_token_read(value.rsplit("/", 1)[1]).url)
            mapped.append((name, value))
        if not (tag == "img" and mapped and str(mapped[0][1]).startswith(f"{PUBLIC}/t/o/")):
            self.events.append(("start", tag, mapped))

    def handle_endtag(self, tag):
        self.events.append(("end", tag))


def _browser_url(value: str) -> str:
    return value.strip("".join(chr(c) for c in range(0x21))).translate(
        str.maketrans("", "", "\t\n\r")
    )


@settings(max_examples=300, deadline=None, suppress_health_check=SUPPRESSED)
@given(parts=st.lists(fragments, max_size=25))
def test_a_parser_sees_the_same_tags_with_http_links_pointing_at_their_click_urls(parts):
    source = "".join(parts)
    result = html_add_tracking(source, message_pk=42, track_opens=False, track_clicks=True)
    before, after = _Events(), _Events()
    before.feed(source)
    after.feed(result)
    expected = []
    for event in before.events:
        if event[0] == "start" and event[1] == "a":
            attrs = []
            for name, value in event[2]:
                url = _browser_url(value or "")
                if name == "href" and re.match(r"https?://.", url, re.I):
                    value = ("clicked", url)
                attrs.append((name, value))
            event = ("start", "a", attrs)
        expected.append(event)
    assert after.events == expected
