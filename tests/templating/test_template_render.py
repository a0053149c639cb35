"""POST /api/v1/templates/{name}/render: the preview (API.md s.13); sends nothing."""

import pytest

from mail.models import Message
from templating.models import Template

pytestmark = pytest.mark.django_db


@pytest.fixture
def welcome(alice):
    return Template.objects.create(
        account=alice,
        name="welcome",
        subject="Hello {{ name }}",
        html="<p>{{ name }} {% for item in order.items %}[{{ item.sku }}]{% endfor %}</p>",
        text="{{ name }}{% if vip %} (vip){% endif %}",
    )


def render(client, variables, name="welcome"):
    return client.post(f"/api/v1/templates/{name}/render", {"variables": variables}, format="json")


def test_it_renders_subject_html_and_text(welcome, alice_templates):
    response = render(
        alice_templates,
        {"name": "Ada", "vip": True, "order": {"items": [{"sku": "a1"}, {"sku": "b2"}]}},
    )
    assert response.status_code == 200
    assert response.json()["data"] == {
        "subject": "Hello Ada",
        "html": "<p>Ada [a1][b2]</p>",
        "text": "Ada (vip)",
    }
    assert not Message.objects.exists()


def test_html_escapes_variables_and_subject_and_text_do_not(welcome, alice_templates):
    variables = {"name": "<b>Tom & Jerry</b>", "vip": False, "order": {"items": []}}
    data = render(alice_templates, variables).json()["data"]
    assert data["html"] == "<p>&lt;b&gt;Tom &amp; Jerry&lt;/b&gt; </p>"
    assert data["subject"] == "Hello <b>Tom & Jerry</b>"
    assert data["text"] == "<b>Tom & Jerry</b>"


def test_a_missing_variable_is_named(welcome, alice_templates):
    response = render(alice_templates, {"vip": False, "order": {"items": []}})
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "VALIDATION_ERROR"
    assert list(error["details"]) == ["variables.name"]


def test_a_missing_key_of_an_object_is_named_with_its_path(welcome, alice_templates):
    response = render(alice_templates, {"name": "x", "vip": 1, "order": {"items": [{"id": 1}]}})
    assert response.status_code == 400
    assert list(response.json()["error"]["details"]) == ["variables.order.items[0].sku"]


def test_a_rendered_subject_with_a_line_break_is_a_validation_error_on_variables(
    welcome, alice_templates
):
    response = render(
        alice_templates, {"name": "a\r\nBcc: x@evil", "vip": 0, "order": {"items": []}}
    )
    assert response.status_code == 400
    assert list(response.json()["error"]["details"]) == ["variables"]


def test_variables_must_be_an_object_of_at_most_64_kib(welcome, alice_templates):
    assert render(alice_templates, ["x"]).status_code == 400
    response = render(alice_templates, {"name": "x" * 65536})
    assert response.status_code == 400
    assert "variables" in response.json()["error"]["details"]


def test_optional_variables_can_use_default_and_is_defined(alice, alice_templates):
    Template.objects.create(
        account=alice,
        name="opt",
        subject="{{ title|default('Hi') }}",
        text="{% if coupon is defined %}{{ coupon }}{% else %}none{% endif %}",
    )
    data = render(alice_templates, {}, name="opt").json()["data"]
    assert (data["subject"], data["text"]) == ("Hi", "none")
