"""Sending with a template (API.md s.13): /send and batch items, to a real SMTP server."""

import pytest

from mail.models import Message, QueueItem
from templating.models import Template

pytestmark = pytest.mark.django_db

VARIABLES = {"name": "<Ada>", "order": {"id": "A-1", "items": [{"sku": "x1"}, {"sku": "y2"}]}}


@pytest.fixture
def receipt(alice):
    return Template.objects.create(
        account=alice,
        name="receipt",
        subject="Order {{ order.id }} for {{ name }}",
        html="<p>Hi {{ name }}</p>{% for i in order['items'] %}<li>{{ i.sku }}</li>{% endfor %}"
        '<a href="https://shop.example/o/{{ order.id }}">order</a>',
        text="Hi {{ name }}, order {{ order.id }}",
    )


def send(client, **fields):
    body = {"to": "user@example.com", "template": "receipt", "variables": VARIABLES, **fields}
    return client.post("/api/v1/mail/send", body, format="json")


def test_a_template_send_delivers_the_rendered_message(
    alice_client, alice_provider, receipt, smtp_server
):
    response = send(alice_client, track_opens=False, track_clicks=False)
    assert response.status_code == 200, response.json()
    message_id = response.json()["data"]["message_id"]
    received = smtp_server.by_message_id(message_id)[0].parsed
    assert received["Subject"] == "Order A-1 for <Ada>"  # subjects are not escaped
    html = received.get_body(("html",)).get_content()
    assert "<p>Hi &lt;Ada&gt;</p><li>x1</li><li>y2</li>" in html  # html is escaped
    assert received.get_body(("plain",)).get_content().strip() == "Hi <Ada>, order A-1"
    stored = Message.objects.get(message_id=message_id)
    assert (stored.template_name, stored.subject) == ("receipt", "Order A-1 for <Ada>")


def test_status_shows_the_template_name(alice_client, alice_provider, receipt, smtp_server):
    message_id = send(alice_client).json()["data"]["message_id"]
    status = alice_client.get(f"/api/v1/mail/status/{message_id}").json()["data"]["message"]
    assert status["template"] == "receipt"


def test_the_rendered_html_is_what_is_tracked(alice_client, alice_provider, receipt, smtp_server):
    message_id = send(alice_client, track_opens=True, track_clicks=True).json()["data"][
        "message_id"
    ]
    html = smtp_server.by_message_id(message_id)[0].parsed.get_body(("html",)).get_content()
    assert "https://shop.example/o/A-1" not in html  # the rendered link was rewritten
    assert "/t/" in html


def test_deleting_the_template_keeps_sent_messages(alice_client, alice_provider, receipt):
    message_id = send(alice_client).json()["data"]["message_id"]
    receipt.delete()
    assert Message.objects.get(message_id=message_id).subject == "Order A-1 for <Ada>"


def assert_refused(response, smtp_server, field):
    assert response.status_code == 400, response.json()
    error = response.json()["error"]
    assert error["code"] == "VALIDATION_ERROR"
    assert field in error["details"], error
    assert not Message.objects.exists()
    assert smtp_server.messages == []


def test_a_missing_variable_is_named_and_nothing_is_sent(
    alice_client, alice_provider, receipt, smtp_server
):
    response = send(alice_client, variables={"order": {"id": "1", "items": []}})
    assert_refused(response, smtp_server, "variables.name")
    assert list(response.json()["error"]["details"]) == ["variables.name"]


def test_an_unknown_template_is_a_validation_error_on_template(
    alice_client, alice_provider, smtp_server
):
    assert_refused(send(alice_client, template="nope"), smtp_server, "template")


def test_another_accounts_template_is_unknown(alice_client, alice_provider, bob, smtp_server):
    Template.objects.create(account=bob, name="receipt", subject="s", text="bob's")
    assert_refused(send(alice_client), smtp_server, "template")


@pytest.mark.parametrize("field", ["subject", "html", "text"])
def test_a_template_and_subject_html_or_text_together_are_refused(
    alice_client, alice_provider, receipt, smtp_server, field
):
    response = send(alice_client, **{field: "x"})
    assert_refused(response, smtp_server, "template")
    assert field in response.json()["error"]["details"]


def test_variables_without_a_template_are_refused(alice_client, alice_provider, smtp_server):
    body = {"to": "u@example.com", "subject": "s", "text": "t", "variables": {}}
    response = alice_client.post("/api/v1/mail/send", body, format="json")
    assert_refused(response, smtp_server, "variables")


def test_variables_over_64_kib_are_refused(alice_client, alice_provider, receipt, smtp_server):
    response = send(alice_client, variables={"name": "x" * 65536, "order": {}})
    assert_refused(response, smtp_server, "variables")


@pytest.mark.parametrize("variables", [[], "x", 1, None])
def test_variables_must_be_an_object(alice_client, alice_provider, receipt, smtp_server, variables):
    assert_refused(send(alice_client, variables=variables), smtp_server, "variables")


def test_a_rendered_subject_with_a_line_break_is_refused(
    alice_client, alice_provider, receipt, smtp_server
):
    variables = {**VARIABLES, "name": "x\r\nBcc: victim@example.com"}
    assert_refused(send(alice_client, variables=variables), smtp_server, "variables")


def test_a_template_that_tries_to_escape_the_sandbox_is_refused_on_template(
    alice, alice_client, alice_provider, smtp_server
):
    Template.objects.create(
        account=alice, name="evil", subject="s", html="{{ ''.__class__.__mro__ }}{{ self }}"
    )
    response = send(alice_client, template="evil", variables={})
    assert_refused(response, smtp_server, "template")
    assert "__class__" in response.json()["error"]["message"]


def test_a_template_over_the_output_limit_is_refused(
    alice, alice_client, alice_provider, smtp_server
):
    Template.objects.create(
        account=alice,
        name="big",
        subject="s",
        text="{% for i in xs %}{{ 'y' * 100000 }}{% endfor %}",
    )
    response = send(alice_client, template="big", variables={"xs": list(range(11))})
    assert_refused(response, smtp_server, "template")


def test_batch_items_render_their_templates_and_a_bad_item_fails_alone(
    alice_client, alice_provider, receipt, smtp_server
):
    body = {
        "messages": [
            {"to": "a@example.com", "template": "receipt", "variables": VARIABLES},
            {"to": "b@example.com", "template": "receipt", "variables": {"name": "b"}},
            {"to": "c@example.com", "template": "nope"},
            {"to": "d@example.com", "subject": "plain", "text": "t"},
        ]
    }
    response = alice_client.post("/api/v1/mail/send-batch", body, format="json")
    data = response.json()["data"]
    assert [m["status"] for m in data["messages"]] == ["queued", "failed", "failed", "queued"]
    assert list(data["messages"][1]["error"]["details"]) == ["variables.order"]
    assert list(data["messages"][2]["error"]["details"]) == ["template"]
    queued = Message.objects.get(message_id=data["messages"][0]["message_id"])
    assert (queued.subject, queued.template_name) == ("Order A-1 for <Ada>", "receipt")
    assert QueueItem.objects.count() == 2
