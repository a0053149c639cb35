"""/api/v1/templates: create, list by name with a cursor, get, replace, delete (API.md s.13)."""

import pytest

from templating.models import Template

pytestmark = pytest.mark.django_db

ORDER = {
    "name": "order-confirmation",
    "subject": "Order {{ order.id }} confirmed",
    "html": "<p>Thanks, {{ name }}!</p>",
    "text": "Thanks, {{ name }}!",
}


def create(client, **fields):
    return client.post("/api/v1/templates", {**ORDER, **fields}, format="json")


def test_creating_a_template_answers_201_with_it(alice, alice_templates):
    response = create(alice_templates)
    assert response.status_code == 201
    data = response.json()["data"]
    assert {k: data[k] for k in ORDER} == ORDER
    assert data["created_at"].endswith("Z") and data["updated_at"].endswith("Z")
    assert (
        Template.objects.get(account=alice, name="order-confirmation").subject == ORDER["subject"]
    )


def test_a_taken_name_is_a_validation_error_on_name(alice_templates):
    create(alice_templates)
    response = create(alice_templates)
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "VALIDATION_ERROR"
    assert "name" in error["details"]


def test_two_accounts_may_use_the_same_name(alice_templates, bob_templates):
    assert create(alice_templates).status_code == 201
    assert create(bob_templates).status_code == 201


@pytest.mark.parametrize("name", ["", "Order", "a b", "x" * 101, "ä", "a/b", 5])
def test_a_bad_name_is_a_validation_error_on_name(alice_templates, name):
    response = create(alice_templates, name=name)
    assert response.status_code == 400
    assert "name" in response.json()["error"]["details"]
    assert not Template.objects.exists()


@pytest.mark.parametrize(
    "field, source",
    [
        ("subject", "Order {{ order.id "),
        ("html", "{% if x %}<p>unclosed"),
        ("text", "{% for x in %}{% endfor %}"),
        ("html", "{% include 'other' %}"),
        ("text", "{{ x|center(10) }}"),
    ],
)
def test_broken_syntax_is_refused_naming_the_field(alice_templates, field, source):
    response = create(alice_templates, **{field: source})
    assert response.status_code == 400
    details = response.json()["error"]["details"]
    assert list(details) == [field]
    assert "syntax" in details[field][0].lower()
    assert not Template.objects.exists()


def test_a_template_needs_html_or_text(alice_templates):
    response = create(alice_templates, html="", text="")
    assert response.status_code == 400
    assert set(response.json()["error"]["details"]) == {"html", "text"}


def test_a_subject_with_a_line_break_is_refused(alice_templates):
    response = create(alice_templates, subject="a\nb")
    assert response.status_code == 400
    assert "subject" in response.json()["error"]["details"]


def test_unknown_fields_and_wrong_types_are_refused(alice_templates):
    response = create(alice_templates, subjet="typo", html=5)
    assert response.status_code == 400
    assert {"subjet", "html"} <= set(response.json()["error"]["details"])


def test_getting_a_template_by_name(alice_templates):
    create(alice_templates)
    response = alice_templates.get("/api/v1/templates/order-confirmation")
    assert response.status_code == 200
    assert response.json()["data"]["html"] == ORDER["html"]


def test_an_unknown_name_is_404(alice_templates):
    for method in ("get", "put", "delete"):
        response = getattr(alice_templates, method)("/api/v1/templates/nope", {}, format="json")
        assert response.status_code == 404
        assert response.json()["error"]["code"] == "NOT_FOUND"


def test_another_accounts_template_is_404_for_every_method(alice_templates, bob_templates):
    create(bob_templates)
    path = "/api/v1/templates/order-confirmation"
    assert alice_templates.get(path).status_code == 404
    assert alice_templates.put(path, ORDER, format="json").status_code == 404
    assert alice_templates.delete(path).status_code == 404
    render = alice_templates.post(f"{path}/render", {"variables": {}}, format="json")
    assert render.status_code == 404
    assert Template.objects.get().subject == ORDER["subject"]


def test_replacing_a_template_changes_subject_html_and_text(alice_templates):
    create(alice_templates)
    response = alice_templates.put(
        "/api/v1/templates/order-confirmation", {"subject": "New", "text": "plain"}, format="json"
    )
    assert response.status_code == 200
    data = response.json()["data"]
    assert (data["subject"], data["html"], data["text"]) == ("New", "", "plain")


def test_replacing_with_broken_syntax_keeps_the_old_template(alice_templates):
    create(alice_templates)
    response = alice_templates.put(
        "/api/v1/templates/order-confirmation",
        {"subject": "New", "html": "{{ broken"},
        format="json",
    )
    assert response.status_code == 400
    assert list(response.json()["error"]["details"]) == ["html"]
    assert Template.objects.get().html == ORDER["html"]


def test_deleting_a_template(alice_templates):
    create(alice_templates)
    response = alice_templates.delete("/api/v1/templates/order-confirmation")
    assert response.status_code == 200
    assert response.json()["data"] == {"name": "order-confirmation", "deleted": True}
    assert not Template.objects.exists()


def test_the_list_is_by_name_a_page_at_a_time(alice, alice_templates, bob_templates, settings):
    import templating.selectors

    names = [f"t{n:03d}" for n in range(120)]
    Template.objects.bulk_create(
        Template(account=alice, name=name, subject="s", text="t") for name in reversed(names)
    )
    create(bob_templates)
    seen, cursor = [], None
    while True:
        response = alice_templates.get("/api/v1/templates", {"cursor": cursor} if cursor else {})
        assert response.status_code == 200
        data = response.json()["data"]
        assert len(data["templates"]) <= templating.selectors.PAGE_SIZE
        seen += [t["name"] for t in data["templates"]]
        cursor = data["next_cursor"]
        if cursor is None:
            break
    assert seen == names


@pytest.mark.parametrize("cursor", ["!!!", "", "A" * 201])
def test_a_forged_empty_or_oversized_cursor_is_a_validation_error(alice_templates, cursor):
    response = alice_templates.get("/api/v1/templates", {"cursor": cursor})
    assert response.status_code == 400
    assert "cursor" in response.json()["error"]["details"]


def test_a_key_without_the_templates_permission_is_403(alice_client):
    response = alice_client.get("/api/v1/templates")
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "FORBIDDEN"


def test_a_templates_key_cannot_send_mail(alice_templates):
    response = alice_templates.post("/api/v1/mail/send", {}, format="json")
    assert response.status_code == 403


def test_no_key_is_401(api_client):
    assert api_client.get("/api/v1/templates").status_code == 401


def test_a_name_or_cursor_with_a_nul_is_404_or_400_never_500(alice_templates):
    import base64

    assert alice_templates.get("/api/v1/templates/a%00b").status_code == 404
    cursor = base64.urlsafe_b64encode(b"a\x00b").decode()
    response = alice_templates.get("/api/v1/templates", {"cursor": cursor})
    assert response.status_code == 400
