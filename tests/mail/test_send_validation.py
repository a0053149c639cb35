"""Every input rule of POST /send (API.md section 3): 400 VALIDATION_ERROR naming the field,
nothing stored, nothing sent."""

import json

import pytest

from mail.models import Message

VALID = {"to": "user@example.com", "subject": "Hello", "html": "<p>Hello World</p>"}
MISSING = object()


def body_with(**changes):
    body = dict(VALID)
    for name, value in changes.items():
        if value is MISSING:
            body.pop(name, None)
        else:
            body[name] = value
    return body


CASES = [
    # (case id, body, field named in details)
    ("to missing", body_with(to=MISSING), "to"),
    ("to invalid", body_with(to="not-an-address"), "to"),
    ("to a list", body_with(to=["user@example.com"]), "to"),
    ("to a number", body_with(to=42), "to"),
    ("to null", body_with(to=None), "to"),
    ("to with a display name", body_with(to='"User" <user@example.com>'), "to"),
    ("to with CRLF", body_with(to="user@example.com\r\nBcc: x@evil.example"), "to"),
    ("to two addresses", body_with(to="a@example.com, b@example.com"), "to"),
    ("subject missing", body_with(subject=MISSING), "subject"),
    ("subject empty", body_with(subject=""), "subject"),
    ("subject a number", body_with(subject=123), "subject"),
    ("subject with LF", body_with(subject="Hello\nBcc: x@evil.example"), "subject"),
    ("subject with CR", body_with(subject="Hello\rWorld"), "subject"),
    ("subject too long", body_with(subject="x" * 999), "subject"),
    ("html and text missing", body_with(html=MISSING), "html"),
    ("html and text empty", body_with(html="", text=""), "text"),
    ("html a number", body_with(html=1), "html"),
    ("text a list", body_with(text=["a"]), "text"),
    ("from_email invalid", body_with(from_email="support"), "from_email"),
    ("from_email a number", body_with(from_email=1), "from_email"),
    ("from_email with a name", body_with(from_email="App <a@example.com>"), "from_email"),
    ("from_name with LF", body_with(from_name="App\nBcc: x@evil.example"), "from_name"),
    ("from_name with CR", body_with(from_name="App\r"), "from_name"),
    ("from_name a number", body_with(from_name=5), "from_name"),
    ("reply_to invalid", body_with(reply_to="nobody"), "reply_to"),
    ("reply_to a list", body_with(reply_to=["a@example.com"]), "reply_to"),
    ("cc a string", body_with(cc="cc@example.com"), "cc"),
    ("cc with a bad address", body_with(cc=["cc@example.com", "bad"]), "cc"),
    ("cc with a number", body_with(cc=[1]), "cc"),
    ("bcc an object", body_with(bcc={"a": "b@example.com"}), "bcc"),
    ("bcc with a bad address", body_with(bcc=["@example.com"]), "bcc"),
    (
        "more than 50 recipients",
        body_with(
            cc=[f"c{i}@example.com" for i in range(25)], bcc=[f"b{i}@x.io" for i in range(25)]
        ),
        "bcc",
    ),
    ("cc alone over 49", body_with(cc=[f"c{i}@example.com" for i in range(50)]), "cc"),
    ("tags a string", body_with(tags="order"), "tags"),
    ("tags of numbers", body_with(tags=[1, 2]), "tags"),
    ("tags more than 10", body_with(tags=[f"t{i}" for i in range(11)]), "tags"),
    ("tag empty", body_with(tags=[""]), "tags"),
    ("tag over 100 chars", body_with(tags=["x" * 101]), "tags"),
    ("metadata a list", body_with(metadata=[1]), "metadata"),
    ("metadata a string", body_with(metadata="x"), "metadata"),
    ("metadata nested object", body_with(metadata={"a": {"b": 1}}), "metadata"),
    ("metadata list value", body_with(metadata={"a": [1]}), "metadata"),
    ("metadata over 4 KiB", body_with(metadata={"a": "x" * 4100}), "metadata"),
    ("track_opens a string", body_with(track_opens="true"), "track_opens"),
    ("track_opens a number", body_with(track_opens=1), "track_opens"),
    ("track_clicks null", body_with(track_clicks=None), "track_clicks"),
    ("unknown field", body_with(form_email="typo@example.com"), "form_email"),
]


@pytest.mark.django_db
@pytest.mark.parametrize(("body", "field"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_it_refuses_invalid_input_naming_the_field(
    alice_client, alice_provider, smtp_server, body, field
):
    response = alice_client.post("/api/v1/mail/send", body, format="json")

    assert response.status_code == 400, response.json()
    error = response.json()["error"]
    assert error["code"] == "VALIDATION_ERROR"
    assert field in error["details"], error
    assert error["message"]
    assert not Message.objects.exists()
    assert smtp_server.messages == []


@pytest.mark.django_db
def test_it_names_every_unknown_field(alice_client, alice_provider):
    body = body_with(foo=1, bar="x")

    error = alice_client.post("/api/v1/mail/send", body, format="json").json()["error"]

    assert error["details"] == {"bar": ["Unknown field."], "foo": ["Unknown field."]}
    assert error["message"] == "bar: Unknown field."


@pytest.mark.django_db
def test_it_reports_several_bad_fields_at_once(alice_client, alice_provider):
    body = body_with(to="bad", subject=1, tags=[1])

    details = alice_client.post("/api/v1/mail/send", body, format="json").json()["error"]["details"]

    assert {"to", "subject", "tags"} <= set(details)


@pytest.mark.django_db
def test_it_accepts_the_limits_exactly(alice_client, alice_provider, smtp_server):
    body = body_with(
        subject="s" * 998,
        cc=[f"c{i}@example.com" for i in range(24)],
        bcc=[f"b{i}@example.com" for i in range(25)],
        tags=["t" * 100] + [f"t{i}" for i in range(9)],
        metadata={"k": "v" * 4000, "n": 1.5, "b": True, "z": None},
        track_opens=False,
        track_clicks=False,
        text="",
    )

    response = alice_client.post("/api/v1/mail/send", body, format="json")

    assert response.status_code == 200, response.json()
    assert len(smtp_server.messages[0].rcpt_tos) == 50


@pytest.mark.django_db
@pytest.mark.parametrize("raw", ["[1, 2]", '"a string"', "null", "42"])
def test_it_refuses_a_body_that_is_not_a_json_object(alice_client, alice_provider, raw):
    response = alice_client.post("/api/v1/mail/send", raw, content_type="application/json")

    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "VALIDATION_ERROR"
    assert "non_field_errors" in error["details"]


@pytest.mark.django_db
def test_it_refuses_malformed_json(alice_client, alice_provider):
    response = alice_client.post(
        "/api/v1/mail/send", '{"to": "user@example.com",', content_type="application/json"
    )

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "VALIDATION_ERROR"


@pytest.mark.django_db
@pytest.mark.parametrize(
    "content_type", ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data"]
)
def test_it_refuses_a_body_that_is_not_json(alice_client, alice_provider, content_type):
    response = alice_client.post("/api/v1/mail/send", json.dumps(VALID), content_type=content_type)

    assert response.status_code == 415
    assert response.json()["error"]["code"] == "UNSUPPORTED_MEDIA_TYPE"
    assert not Message.objects.exists()


@pytest.mark.django_db
def test_it_accepts_json_with_a_charset(alice_client, alice_provider):
    response = alice_client.post(
        "/api/v1/mail/send", json.dumps(VALID), content_type="application/json; charset=utf-8"
    )

    assert response.status_code == 200, response.json()


@pytest.mark.django_db
@pytest.mark.parametrize("bad", ["NaN", "Infinity"])
def test_it_refuses_non_standard_json_numbers(alice_client, alice_provider, bad):
    raw = json.dumps(VALID)[:-1] + f', "metadata": {{"n": {bad}}}}}'

    response = alice_client.post("/api/v1/mail/send", raw, content_type="application/json")

    assert response.status_code == 400
