"""html_add_tracking: links rewritten with a real parser, the pixel before </body>, all else kept."""

import html
import re
import time

import pytest

from mail.tracking import click_token_read, html_add_tracking, open_token_read

PUBLIC = "https://mp.example"
CLICK = re.compile(r'href\s*=\s*"(https://mp\.example/t/c/([^"]+))"', re.IGNORECASE)
PIXEL = re.compile(
    r'<img src="https://mp\.example/t/o/([^"]+)\.gif" width="1" height="1" alt="" '
    r'style="display:none" border="0">'
)


@pytest.fixture(autouse=True)
def _public_url(settings):
    settings.MAILPASS_PUBLIC_URL = PUBLIC


def track(source: str, *, opens: bool = True, clicks: bool = True, pk: int = 7) -> str:
    return html_add_tracking(source, message_pk=pk, track_opens=opens, track_clicks=clicks)


def clicked_urls(result: str) -> list[str]:
    return [click_token_read(html.unescape(token)).url for _, token in CLICK.findall(result)]


def test_it_rewrites_http_and_https_links_to_signed_click_urls():
    result = track('<a href="https://example.com/a">A</a> <a href="http://example.com/b">B</a>')
    assert clicked_urls(result) == ["https://example.com/a", "http://example.com/b"]
    for _, token in CLICK.findall(result):
        assert click_token_read(token).message_pk == 7


def test_it_signs_the_entity_decoded_url():
    result = track('<a href="https://example.com/?a=1&amp;b=2&#38;c=3">x</a>')
    assert clicked_urls(result) == ["https://example.com/?a=1&b=2&c=3"]


def test_it_matches_the_scheme_and_tag_case_insensitively():
    result = track("<A HREF='HTTPS://Example.com/X'>x</A><a Href=Http://e.com/p>y</a>")
    assert clicked_urls(result) == ["HTTPS://Example.com/X", "Http://e.com/p"]
    assert result.startswith('<A HREF="https://mp.example/t/c/')


def test_it_leaves_mailto_tel_anchors_and_relative_links_alone():
    source = (
        '<a href="mailto:a@example.com">m</a><a href="tel:+491234">t</a><a href="#top">a</a>'
        '<a href="/relative">r</a><a href="ftp://example.com/f">f</a><a href="javascript:x()">j</a>'
        '<a href="//example.com/proto-relative">p</a><a name="x">n</a><a href>e</a>'
    )
    assert track(source, opens=False) == source


def test_it_strips_what_browsers_strip_from_a_url():
    result = track('<a href=" https://example.com/a\n/b\t ">x</a>')
    assert clicked_urls(result) == ["https://example.com/a/b"]


def test_it_keeps_every_other_byte_as_written():
    source = (
        "<!DOCTYPE html>\r\n<html><head><style>a{color:red}</style></head>\r\n"
        '<body class="x">\n  <p>Caf\u00e9 &amp; cr\u00e8me &nbsp;<!-- a comment <a href="http://c"> -->\n'
        '  <a   class=btn\n  href = "https://example.com/x"  title="t">Go</a>\n'
        "<script>var s = '<a href=\"http://in-script\">';</script></body></html>\n"
    )
    result = track(source, opens=False)
    assert clicked_urls(result) == ["https://example.com/x"]
    ((click, _),) = CLICK.findall(result)
    assert result.replace(f'"{click}"', '"https://example.com/x"') == source


def test_it_does_not_rewrite_links_inside_comments_scripts_or_attribute_values():
    source = (
        '<!-- <a href="http://comment"> --><script><a href="http://script"></script>'
        "<img alt='<a href=\"http://attr\">'><textarea>x</textarea>"
    )
    assert track(source, opens=False) == source


def test_it_places_the_pixel_just_before_the_last_closing_body_tag():
    source = "<html><body><p>x</p></body><!-- </body> --></BODY ></html>"
    result = track(source, clicks=False)
    pixel = PIXEL.search(result)
    assert pixel is not None
    assert result[pixel.end() :].startswith("</BODY >")
    assert result[: pixel.start()] + result[pixel.end() :] == source
    assert open_token_read(pixel.group(1)) == 7


def test_it_appends_the_pixel_when_there_is_no_body():
    result = track("<p>Hello</p>", clicks=False)
    assert result.startswith("<p>Hello</p><img src=")
    assert PIXEL.fullmatch(result[len("<p>Hello</p>") :])


def test_it_ignores_a_closing_body_inside_a_comment_or_script():
    source = "<p>x</p><!-- </body> --><script>'</body>'</script>"
    result = track(source, clicks=False)
    assert result.startswith(source)


def test_it_adds_nothing_when_both_are_off():
    source = '<body><a href="https://example.com">x</a></body>'
    assert track(source, opens=False, clicks=False) == source


def test_track_opens_false_adds_no_pixel():
    result = track('<body><a href="https://example.com">x</a></body>', opens=False)
    assert "/t/o/" not in result
    assert clicked_urls(result) == ["https://example.com"]


def test_track_clicks_false_keeps_the_links():
    source = '<body><a href="https://example.com">x</a></body>'
    result = track(source, clicks=False)
    assert 'href="https://example.com"' in result
    assert "/t/c/" not in result


def test_it_escapes_the_click_url_in_the_attribute(settings):
    settings.MAILPASS_PUBLIC_URL = 'https://mp.example/x?a=1&b="2"'
    result = track('<a href="https://example.com">x</a>', opens=False)
    assert 'href="https://mp.example/x?a=1&amp;b=&quot;2&quot;/t/c/' in result


@pytest.mark.parametrize(
    "source",
    [
        "",
        "<",
        "<a",
        "<a href='http://x",
        '<a href="http://x" <b>',
        "<![if x]>",
        "<![ ",
        "<!doctype",
        "</",
        "<?php",
        "&#",
        "&#x110000;<a href='http://x'>",
        "\x00<a\x00href=http://x>",
        "\ud800<a href='http://\udc00'>",
        "<a href='http://ok'></a><a href=\"http://unterminated",
        "<body><a href=http://x/></body",
        "<table><tr><td><a href=http://x>" * 3,
    ],
)
def test_it_never_raises_on_broken_markup(source):
    result = track(source)
    assert isinstance(result, str)


def test_it_leaves_an_unterminated_tail_as_it_is_and_puts_the_pixel_before_it():
    source = "<p>Hi</p><a href='http://x' title=\"never closed"
    result = track(source)
    pixel = PIXEL.search(result)
    assert result[: pixel.start()] == "<p>Hi</p>"
    assert result[pixel.end() :] == source[len("<p>Hi</p>") :]


@pytest.mark.parametrize(
    "unit",
    ["<a ", "<a x='", "</", "<?", "<!--", "<![", "<a href=http://x/>", "< ", "</body>"],
)
def test_it_is_linear_on_input_that_makes_html_parser_close_quadratic(unit):
    # 100,000 repetitions: several minutes with HTMLParser.close() on Python 3.11.7.
    source = unit * 100_000
    started = time.perf_counter()
    track(source)
    assert time.perf_counter() - started < 10


def test_it_rewrites_a_large_document_in_linear_time():
    chunk = '<p>Hello <b>you</b> <a href="https://example.com/p?i=1">link</a></p>\n'
    small, large = chunk * 2_000, chunk * 20_000
    started = time.perf_counter()
    track(small)
    small_time = time.perf_counter() - started
    started = time.perf_counter()
    result = track(large)
    large_time = time.perf_counter() - started
    assert result.count("/t/c/") == 20_000
    assert large_time < max(small_time, 0.05) * 10 * 3  # 10x the input, allowing noise


def test_an_unexpected_error_sends_the_html_untracked_rather_than_failing(monkeypatch, caplog):
    from mail import tracking

    def broken(*args, **kwargs):
        raise RuntimeError("parser bug")

    monkeypatch.setattr(tracking, "_tracking_edits", broken)
    source = '<body><a href="https://example.com">x</a></body>'
    assert track(source) == source
    assert "sent without tracking" in caplog.text
