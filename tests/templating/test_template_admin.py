"""Templates in the admin: the API's rules on save, and the preview."""

import pytest
from django.urls import reverse

from templating.models import Template

pytestmark = pytest.mark.django_db


@pytest.fixture
def welcome(alice):
    return Template.objects.create(
        account=alice, name="welcome", subject="Hi {{ name }}", html="<p>{{ name }}</p>", text="t"
    )


def test_the_preview_renders_with_the_given_variables(admin_client, welcome):
    url = reverse("admin:templating_template_preview", args=[welcome.pk])
    response = admin_client.post(url, {"variables": '{"name": "<Ada>"}'})
    assert response.status_code == 200
    body = response.content.decode()
    assert "Hi &lt;Ada&gt;" in body  # the subject, escaped by the admin page
    # The html runs only in a sandboxed frame, never in the admin's page itself.
    assert 'sandbox=""' in body
    assert "<p>&lt;Ada&gt;</p>" not in body.replace("&amp;", "&").split("srcdoc=")[0]


def test_the_preview_names_a_missing_variable(admin_client, welcome):
    url = reverse("admin:templating_template_preview", args=[welcome.pk])
    response = admin_client.post(url, {"variables": "{}"})
    assert "variables.name" in response.content.decode()


def test_the_preview_refuses_variables_that_are_not_an_object(admin_client, welcome):
    url = reverse("admin:templating_template_preview", args=[welcome.pk])
    response = admin_client.post(url, {"variables": "[1]"})
    assert "Must be a JSON object." in response.content.decode()


def test_saving_broken_syntax_in_the_admin_is_refused(admin_client, alice):
    response = admin_client.post(
        reverse("admin:templating_template_add"),
        {"account": alice.pk, "name": "x", "subject": "s", "html": "{{ broken", "text": ""},
    )
    assert response.status_code == 200  # the form again, with the error
    assert "Template syntax error" in response.content.decode()
    assert not Template.objects.exists()


def test_saving_a_good_template_in_the_admin(admin_client, alice):
    response = admin_client.post(
        reverse("admin:templating_template_add"),
        {"account": alice.pk, "name": "x", "subject": "s {{ a }}", "html": "", "text": "t"},
    )
    assert response.status_code == 302
    assert Template.objects.get().subject == "s {{ a }}"
