"""Send through the real SMTP test server, then read and click the email that arrived."""

from html.parser import HTMLParser
from urllib.parse import urlsplit

import pytest

from mail.models import MessageEvent

PUBLIC = "https://track.mailpass.example"
HTML = (
    "<!doctype html><html><body><h1>Your order</h1>"
    '<p><a href="https://shop.example/orders/12345?utm=mail&amp;x=1">See your order</a></p>'
    '<p><a href="mailto:help@shop.example">Write to us</a> <a href="#top">Top</a></p>'
    "</body></html>"
)
READER_UA = "Mozilla/5.0 (MailPass end-to-end reader) TestMail/3.1"


class _Html(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.links: list[str] = []
        self.images: list[str] = []

    def handle_starttag(self, tag, attrs):
        values = dict(attrs)
        if tag == "a" and values.get("href"):
            self.links.append(values["href"])
        if tag == "img" and values.get("src"):
            self.images.append(values["src"])


@pytest.fixture(autouse=True)
def _public_url(settings):
    settings.MAILPASS_PUBLIC_URL = PUBLIC


def send_and_receive(alice_client, smtp_server, **fields) -> tuple[str, _Html]:
    body = {"to": "reader@example.com", "subject": "Your order", "html": HTML, **fields}
    response = alice_client.post("/api/v1/mail/send", body, format="json")
    assert response.status_code == 200, response.json()
    message_id = response.json()["data"]["message_id"]
    (received,) = smtp_server.by_message_id(message_id)
    html = received.parsed.get_body(preferencelist=("html",)).get_content()
    parsed = _Html()
    parsed.feed(html)
    return message_id, parsed


def status(alice_client, message_id: str) -> dict:
    response = alice_client.get(f"/api/v1/mail/status/{message_id}")
    assert response.status_code == 200
    return response.json()["data"]


@pytest.mark.django_db
def test_opening_and_clicking_the_received_email_shows_in_the_status(
    alice_client, alice_provider, smtp_server, client
):
    message_id, received = send_and_receive(
        alice_client, smtp_server, track_opens=True, track_clicks=True
    )
    (pixel,) = received.images
    assert pixel.startswith(f"{PUBLIC}/t/o/") and pixel.endswith(".gif")
    tracked, mailto, anchor = received.links
    assert tracked.startswith(f"{PUBLIC}/t/c/")
    assert (mailto, anchor) == ("mailto:help@shop.example", "#top")

    opened = client.get(urlsplit(pixel).path, HTTP_USER_AGENT=READER_UA, REMOTE_ADDR="198.51.100.4")
    assert opened.status_code == 200
    assert opened["Content-Type"] == "image/gif"
    clicked = client.get(
        urlsplit(tracked).path, HTTP_USER_AGENT=READER_UA, REMOTE_ADDR="198.51.100.4"
    )
    assert clicked.status_code == 302
    assert clicked["Location"] == "https://shop.example/orders/12345?utm=mail&x=1"

    events = status(alice_client, message_id)["events"]
    assert [event["event_type"] for event in events] == ["sent", "open", "click"]
    _, open_event, click_event = events
    assert open_event["ip_address"] == "198.51.100.4"
    assert open_event["user_agent"] == READER_UA
    assert open_event["url"] is None
    assert click_event["ip_address"] == "198.51.100.4"
    assert click_event["user_agent"] == READER_UA
    assert click_event["url"] == "https://shop.example/orders/12345?utm=mail&x=1"


@pytest.mark.django_db
def test_a_tampered_link_from_the_email_is_404_and_adds_no_event(
    alice_client, alice_provider, smtp_server, client
):
    message_id, received = send_and_receive(alice_client, smtp_server)
    path = urlsplit(received.links[0]).path
    before = MessageEvent.objects.count()
    for bad in (path[:-3], path[:-1] + ("A" if path[-1] != "A" else "B"), path + "x"):
        response = client.get(bad)
        assert response.status_code == 404
        assert not response.has_header("Location")
    pixel_path = urlsplit(received.images[0]).path
    assert client.get(pixel_path.replace(".gif", "x.gif")).status_code == 404
    assert MessageEvent.objects.count() == before
    assert [e["event_type"] for e in status(alice_client, message_id)["events"]] == ["sent"]


@pytest.mark.django_db
def test_track_opens_false_sends_no_pixel(alice_client, alice_provider, smtp_server):
    _, received = send_and_receive(alice_client, smtp_server, track_opens=False)
    assert received.images == []
    assert received.links[0].startswith(f"{PUBLIC}/t/c/")


@pytest.mark.django_db
def test_track_clicks_false_keeps_the_links(alice_client, alice_provider, smtp_server):
    _, received = send_and_receive(alice_client, smtp_server, track_clicks=False)
    assert received.links == [
        "https://shop.example/orders/12345?utm=mail&x=1",
        "mailto:help@shop.example",
        "#top",
    ]
    assert received.images[0].startswith(f"{PUBLIC}/t/o/")
