"""Templates in the admin for account owners: their own only, the preview included."""

import pytest
from django.urls import reverse

from templating.models import Template

pytestmark = pytest.mark.django_db


@pytest.fixture
def templates(alice, bob):
    return {
        "alice": Template.objects.create(account=alice, name="a-welcome", subject="A", text="a"),
        "bob": Template.objects.create(account=bob, name="b-welcome", subject="B", text="b"),
    }


def test_an_owner_lists_only_their_templates(alice_admin, templates):
    body = alice_admin.get(reverse("admin:templating_template_changelist")).content.decode()
    assert "a-welcome" in body and "b-welcome" not in body


def test_an_owner_previews_their_template_but_not_another_accounts(alice_admin, templates):
    own = reverse("admin:templating_template_preview", args=[templates["alice"].pk])
    response = alice_admin.post(own, {"variables": "{}"})
    assert response.status_code == 200
    assert 'id="preview-subject">A<' in response.content.decode()
    other = reverse("admin:templating_template_preview", args=[templates["bob"].pk])
    assert alice_admin.post(other, {"variables": "{}"}).status_code == 404
    assert alice_admin.get(
        reverse("admin:templating_template_change", args=[templates["bob"].pk])
    ).status_code in (302, 404)


def test_a_template_an_owner_adds_is_theirs(alice, bob, alice_admin):
    response = alice_admin.post(
        reverse("admin:templating_template_add"),
        {"account": bob.pk, "name": "mine", "subject": "s", "html": "", "text": "t"},
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    assert Template.objects.get(name="mine").account == alice


def test_an_owner_can_edit_and_delete_their_template(alice_admin, templates):
    template = templates["alice"]
    change = reverse("admin:templating_template_change", args=[template.pk])
    response = alice_admin.post(
        change, {"name": "a-welcome", "subject": "New", "html": "", "text": "t"}
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    template.refresh_from_db()
    assert template.subject == "New"
    delete = reverse("admin:templating_template_delete", args=[template.pk])
    assert alice_admin.post(delete, {"post": "yes"}).status_code == 302
    assert not Template.objects.filter(pk=template.pk).exists()
