"""GET /t/o/{token}.gif and GET /t/c/{token}: signed tokens, one event each, no open redirect."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from mail.models import EventType, MessageEvent
from mail.tracking import click_token_make, open_token_make
from mail.tracking_views import TRANSPARENT_GIF
from tests.factories import MessageFactory

UA = "MailPassTest/1.0 (pixel)"


@pytest.fixture
def message(alice):
    return MessageFactory(account=alice)


def pixel_path(pk: int) -> str:
    return f"/t/o/{open_token_make(pk)}.gif"


def click_path(pk: int, url: str) -> str:
    return f"/t/c/{click_token_make(pk, url)}"


@pytest.mark.django_db
def test_the_pixel_is_a_transparent_gif_that_is_never_cached(client, message):
    response = client.get(pixel_path(message.pk), HTTP_USER_AGENT=UA, REMOTE_ADDR="203.0.113.9")
    assert response.status_code == 200
    assert response["Content-Type"] == "image/gif"
    assert response.content == TRANSPARENT_GIF
    assert response.content.startswith(b"GIF89a\x01\x00\x01\x00") and len(response.content) == 43
    assert response["Cache-Control"] == "no-store"
    assert response["Pragma"] == "no-cache"
    (event,) = MessageEvent.objects.filter(message=message)
    assert (event.event_type, event.ip_address, event.user_agent, event.url) == (
        EventType.OPEN,
        "203.0.113.9",
        UA,
        "",
    )


@pytest.mark.django_db
def test_every_fetch_of_the_pixel_is_an_open(client, message):
    for _ in range(3):
        assert client.get(pixel_path(message.pk)).status_code == 200
    assert MessageEvent.objects.filter(message=message, event_type=EventType.OPEN).count() == 3


@pytest.mark.django_db
@pytest.mark.parametrize(
    "url",
    [
        "https://example.com/",
        "http://example.com/orders/12345?a=1&b=2#frag",
        "HTTPS://Example.COM/Path?q=%20x&r=a+b",
    ],
)
def test_a_click_is_recorded_and_redirected_to_exactly_the_signed_url(client, message, url):
    response = client.get(click_path(message.pk, url), HTTP_USER_AGENT=UA)
    assert response.status_code == 302
    assert response["Location"] == url
    assert response["Cache-Control"] == "no-store"
    (event,) = MessageEvent.objects.filter(message=message)
    assert (event.event_type, event.url, event.user_agent, event.ip_address) == (
        EventType.CLICK,
        url,
        UA,
        "127.0.0.1",
    )


@pytest.mark.django_db
def test_query_parameters_cannot_change_the_redirect(client, message):
    response = client.get(
        click_path(message.pk, "https://example.com/a"),
        {"url": "https://evil.example", "next": "https://evil.example", "redirect": "//evil"},
    )
    assert response["Location"] == "https://example.com/a"


def _tampered(token: str) -> list[str]:
    value, _, signature = token.rpartition(":")
    flipped = ("A" if signature[0] != "A" else "B") + signature[1:]
    return [
        f"{value}:{flipped}",  # forged signature
        token[:-1],  # truncated
        token[: len(token) // 2],
        value,  # no signature at all
        "x" * 40,
        f"{token}x",
    ]


@pytest.mark.django_db
def test_a_tampered_click_token_is_404_and_records_nothing(client, message):
    token = click_token_make(message.pk, "https://example.com/")
    for bad in _tampered(token):
        response = client.get(f"/t/c/{bad}")
        assert response.status_code == 404, bad
        assert not response.has_header("Location")
    assert not MessageEvent.objects.exists()


@pytest.mark.django_db
def test_a_click_token_signed_for_another_url_cannot_be_rewritten(client, message):
    # The payload is readable base64: swapping in another URL breaks the signature.
    import base64

    token = click_token_make(message.pk, "https://example.com/")
    payload, timestamp, signature = token.split(":")
    raw = base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))
    evil = raw.replace(b"https://example.com/", b"https://evil.example/")
    forged = base64.urlsafe_b64encode(evil).decode().rstrip("=")
    response = client.get(f"/t/c/{forged}:{timestamp}:{signature}")
    assert response.status_code == 404
    assert not MessageEvent.objects.exists()


@pytest.mark.django_db
def test_a_tampered_open_token_is_404_without_a_gif_and_records_nothing(client, message):
    token = open_token_make(message.pk)
    for bad in _tampered(token):
        response = client.get(f"/t/o/{bad}.gif")
        assert response.status_code == 404, bad
        assert response["Content-Type"] != "image/gif"
        assert not response.content.startswith(b"GIF")
    assert not MessageEvent.objects.exists()


@pytest.mark.django_db
def test_an_open_token_is_not_a_click_token_and_the_reverse(client, message):
    assert client.get(f"/t/c/{open_token_make(message.pk)}").status_code == 404
    click = click_token_make(message.pk, "https://example.com/")
    assert client.get(f"/t/o/{click}.gif").status_code == 404
    assert not MessageEvent.objects.exists()


@pytest.mark.django_db
def test_tokens_of_a_deleted_message_are_404(client, message):
    pixel, click = pixel_path(message.pk), click_path(message.pk, "https://example.com/")
    message.delete()
    assert client.get(pixel).status_code == 404
    assert client.get(click).status_code == 404
    assert not MessageEvent.objects.exists()


@pytest.mark.django_db
def test_recording_is_one_insert_without_touching_the_message_row(client, message):
    with CaptureQueriesContext(connection) as captured:
        assert client.get(pixel_path(message.pk)).status_code == 200
    (query,) = [q["sql"] for q in captured.captured_queries]
    assert query.startswith('INSERT INTO "mail_messageevent"')
    assert "FOR UPDATE" not in query and "UPDATE" not in query.replace("INSERT", "")

    with CaptureQueriesContext(connection) as captured:
        assert client.get(click_path(message.pk, "https://example.com/")).status_code == 302
    assert len(captured.captured_queries) == 1


@pytest.mark.django_db
def test_the_user_agent_is_stored_capped_at_512_characters(client, message):
    client.get(pixel_path(message.pk), HTTP_USER_AGENT="A" * 5000)
    assert MessageEvent.objects.get().user_agent == "A" * 512


@pytest.mark.django_db
def test_a_missing_user_agent_is_stored_empty(client, message):
    client.get(pixel_path(message.pk))
    assert MessageEvent.objects.get().user_agent == ""


@pytest.mark.django_db
def test_the_tracking_endpoints_answer_only_get(client, message):
    assert client.post(pixel_path(message.pk)).status_code == 405
    assert client.post(click_path(message.pk, "https://example.com/")).status_code == 405
    assert not MessageEvent.objects.exists()


@pytest.mark.django_db
def test_they_need_no_api_key_and_no_session(client, message):
    response = client.get(pixel_path(message.pk))
    assert response.status_code == 200
    assert "Set-Cookie" not in response.headers


@pytest.mark.django_db
def test_nul_characters_in_the_agent_or_the_url_do_not_break_recording(client, message):
    assert client.get(pixel_path(message.pk), HTTP_USER_AGENT="a\x00b").status_code == 200
    response = client.get(click_path(message.pk, "https://example.com/a\x00b"))
    assert response.status_code == 302
    assert response["Location"] == "https://example.com/a%00b"
    opened, clicked = MessageEvent.objects.order_by("id")
    assert opened.user_agent == "ab"
    assert clicked.url == "https://example.com/a%00b"


@pytest.mark.django_db
def test_a_non_ascii_url_is_redirected_percent_encoded(client, message):
    response = client.get(click_path(message.pk, "https://example.com/café?q=ü"))
    assert response.status_code == 302
    assert response["Location"] == "https://example.com/caf%C3%A9?q=%C3%BC"
    assert MessageEvent.objects.get().url == "https://example.com/café?q=ü"
