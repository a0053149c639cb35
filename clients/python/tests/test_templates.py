"""The templates resource against a running MailPass."""

from __future__ import annotations

import pytest

from mailpass import NotFoundError, ValidationError

pytestmark = pytest.mark.server


def test_a_template_is_created_read_listed_replaced_rendered_and_deleted(client, unique):
    name = unique("welcome")

    created = client.templates.create(
        name=name, subject="Welcome {{ name }}", html="<p>Hi {{ name }}</p>"
    )
    assert created["name"] == name
    assert created["text"] == ""
    assert client.templates.get(name)["subject"] == "Welcome {{ name }}"
    assert name in [t["name"] for t in client.templates.iter_all()]

    replaced = client.templates.replace(name, subject="Hello {{ name }}", text="Hi {{ name }}")
    assert (replaced["subject"], replaced["html"], replaced["text"]) == (
        "Hello {{ name }}",
        "",
        "Hi {{ name }}",
    )
    rendered = client.templates.render(name, {"name": "<Ada>"})
    assert rendered == {"subject": "Hello <Ada>", "html": "", "text": "Hi <Ada>"}

    assert client.templates.delete(name) == {"name": name, "deleted": True}
    with pytest.raises(NotFoundError):
        client.templates.get(name)


def test_a_missing_variable_is_a_validation_error_naming_it(client, unique):
    name = unique("needs-order")
    client.templates.create(name=name, subject="Order {{ order }}", text="{{ order }}")

    with pytest.raises(ValidationError) as caught:
        client.templates.render(name, {})

    assert "variables.order" in caught.value.details
