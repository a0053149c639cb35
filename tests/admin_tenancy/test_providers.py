"""SMTP providers in the admin: an owner sees, adds, changes, deletes and tests only their own."""

import pytest

from providers.models import SmtpProvider
from tests.admin_tenancy.conftest import assert_doesnt_exist, messages_of, run_action

pytestmark = pytest.mark.django_db

LIST = "/admin/providers/smtpprovider/"


def change_url(provider) -> str:
    return f"{LIST}{provider.pk}/change/"


def form_data(account_pk, **overrides) -> dict:
    data = {
        "account": account_pk,
        "name": "New relay",
        "kind": "smtp",
        "host": "smtp.example.com",
        "port": "587",
        "security": "starttls",
        "username": "",
        "password": "",
        "from_email": "support@example.com",
        "from_name": "Support",
        "hourly_limit": "",
        "daily_limit": "",
        "timeout": "10",
        "is_active": "on",
    }
    data.update(overrides)
    return data


def test_an_owner_lists_only_their_own_providers(alice_admin, alices, bobs):
    response = alice_admin.get(LIST)

    assert response.status_code == 200
    assert "alice-relay" in response.text
    assert "bob-relay" not in response.text
    assert response.context["cl"].result_count == 1
    assert response.context["cl"].full_result_count == 1


def test_a_superuser_lists_every_accounts_providers(root_admin, alices, bobs):
    response = root_admin.get(LIST)

    assert "alice-relay" in response.text and "bob-relay" in response.text
    assert response.context["cl"].result_count == 2


def test_an_owner_finds_nothing_of_another_account_by_search_or_filter(alice_admin, alices, bobs):
    searched = alice_admin.get(LIST, {"q": "bob"})
    filtered = alice_admin.get(LIST, {"account__id__exact": bobs.provider.account_id})

    assert "bob-relay" not in searched.text
    assert searched.context["cl"].result_count == 0
    assert "bob-relay" not in filtered.text


def test_another_accounts_provider_id_doesnt_exist_for_an_owner(alice_admin, alices, bobs):
    for suffix in ("change/", "delete/", "history/"):
        assert_doesnt_exist(alice_admin, f"{LIST}{bobs.provider.pk}/{suffix}")
    assert_doesnt_exist(
        alice_admin, change_url(bobs.provider), "post", form_data(bobs.provider.account_id)
    )
    assert_doesnt_exist(alice_admin, f"{LIST}{bobs.provider.pk}/delete/", "post", {"post": "yes"})

    bobs.provider.refresh_from_db()
    assert bobs.provider.name == "bob-relay"


def test_a_new_provider_belongs_to_the_owner_whatever_account_is_posted(
    alice_admin, alice, bob, alices
):
    form = alice_admin.get(f"{LIST}add/").context["adminform"].form
    assert list(form.fields["account"].queryset) == [alice]
    assert form.fields["account"].disabled

    response = alice_admin.post(f"{LIST}add/", form_data(bob.pk), follow=True)

    assert response.status_code == 200
    created = SmtpProvider.objects.get(name="New relay")
    assert created.account == alice


def test_an_owner_changes_and_deletes_their_own_provider(alice_admin, alice, alices):
    data = form_data(alice.pk, name="Renamed", host=alices.provider.host, port=alices.provider.port)
    response = alice_admin.post(change_url(alices.provider), data)
    assert response.status_code == 302
    alices.provider.refresh_from_db()
    assert alices.provider.name == "Renamed"

    response = alice_admin.post(f"{LIST}{alices.provider.pk}/delete/", {"post": "yes"})
    assert response.status_code == 302
    assert not SmtpProvider.objects.filter(pk=alices.provider.pk).exists()


def test_actions_on_a_guessed_id_of_another_account_touch_nothing(
    alice_admin, alices, bobs, smtp_server
):
    made_default = run_action(alice_admin, LIST, "make_default", bobs.provider)
    tested = run_action(alice_admin, LIST, "test_connection", bobs.provider)
    mailed = run_action(
        alice_admin, LIST, "send_test_email", bobs.provider, apply="1", to_email="x@example.com"
    )
    deleted = run_action(alice_admin, LIST, "delete_selected", bobs.provider, post="yes")

    for response in (made_default, tested, mailed, deleted):
        assert response.status_code == 200
        assert not any("bob-relay" in text for text in messages_of(response))
    assert smtp_server.messages == []
    assert SmtpProvider.objects.filter(pk=bobs.provider.pk).exists()


def test_an_owner_runs_the_actions_on_their_own_provider(alice_admin, alice, alices, smtp_server):
    tested = run_action(alice_admin, LIST, "test_connection", alices.provider)
    mailed = run_action(
        alice_admin, LIST, "send_test_email", alices.provider, apply="1", to_email="a@example.com"
    )

    assert "alice-relay: connection works." in messages_of(tested)
    assert "alice-relay: test email sent to a@example.com." in messages_of(mailed)
    assert len(smtp_server.messages) == 1


def test_a_view_only_owner_can_run_no_action(viewer_admin, viewer, smtp_server):
    from tests.admin_tenancy.conftest import holdings_for

    mine = holdings_for(viewer, host=smtp_server.host, port=smtp_server.port)
    page = viewer_admin.get(LIST)
    assert page.status_code == 200 and "viewer-relay" in page.text
    assert page.context["action_form"] is None  # no action is offered at all

    for action in ("make_default", "test_connection", "send_test_email", "delete_selected"):
        response = run_action(
            viewer_admin, LIST, action, mine.provider, apply="1", to_email="v@example.com"
        )
        assert response.status_code == 200
        assert not any("viewer-relay" in text for text in messages_of(response)), action
    assert smtp_server.messages == []
    assert SmtpProvider.objects.filter(pk=mine.provider.pk).exists()
    assert viewer_admin.post(change_url(mine.provider), form_data(viewer.pk)).status_code == 403


def test_the_provider_filter_choices_of_an_owner_are_their_own(alice_admin, alices, bobs):
    # Other lists filter by provider; an owner's provider filter never names bob's.
    page = alice_admin.get("/admin/mail/message/")
    choices = [
        choice["display"]
        for spec in page.context["cl"].filter_specs
        for choice in spec.choices(page.context["cl"])
    ]
    assert f"alice-relay (127.0.0.1:{alices.provider.port})" in choices
    assert not any("bob-relay" in str(choice) for choice in choices)


def test_the_admins_test_email_carries_a_mailpass_message_id(alice_admin, alices, smtp_server):
    run_action(
        alice_admin, LIST, "send_test_email", alices.provider, apply="1", to_email="a@example.com"
    )

    [received] = smtp_server.messages
    assert received.message_id.endswith("@mailpass.im>")
