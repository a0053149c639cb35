"""suppression_add: the one door automatic entries come through (feedback, RCPT refusals)."""

import pytest

from suppressions.models import Suppression, SuppressionReason
from suppressions.selectors import suppressed_addresses
from suppressions.services import suppression_add
from tests.factories import MessageFactory

pytestmark = pytest.mark.django_db


def test_it_stores_the_address_lower_cased_with_reason_message_and_detail(alice):
    message = MessageFactory(account=alice, to_email="Gone@Example.COM")
    entry = suppression_add(
        account=alice,
        email=" Gone@Example.COM ",
        reason=SuppressionReason.HARD_BOUNCE,
        message=message,
        detail="550 5.1.1 no such user",
    )
    entry.refresh_from_db()
    assert (entry.account, entry.email, entry.reason) == (alice, "gone@example.com", "hard_bounce")
    assert entry.message == message
    assert entry.detail == "550 5.1.1 no such user"


def test_adding_twice_returns_the_first_entry_unchanged(alice):
    first = suppression_add(account=alice, email="a@example.com", reason="complaint")
    again = suppression_add(
        account=alice.pk, email="A@EXAMPLE.com", reason="hard_bounce", detail="later"
    )
    assert again.pk == first.pk
    again.refresh_from_db()
    assert (again.reason, again.detail) == ("complaint", "")
    assert Suppression.objects.count() == 1


def test_a_message_sent_with_a_test_key_never_adds(alice):
    message = MessageFactory(account=alice, is_test=True)
    assert (
        suppression_add(account=alice, email="a@example.com", reason="complaint", message=message)
        is None
    )
    assert not Suppression.objects.exists()


@pytest.mark.parametrize(
    "garbage", ["", "   ", "no-at-sign", "a@" + "x" * 260, "a\x00@example.com"]
)
def test_a_string_that_cannot_be_an_address_adds_nothing_and_does_not_fail(alice, garbage):
    assert suppression_add(account=alice, email=garbage, reason="hard_bounce") is None
    assert not Suppression.objects.exists()


def test_an_unknown_reason_is_a_programming_error(alice):
    with pytest.raises(ValueError):
        suppression_add(account=alice, email="a@example.com", reason="soft_bounce")


def test_accounts_have_separate_lists(alice, bob):
    suppression_add(account=alice, email="a@example.com", reason="manual")
    suppression_add(account=bob, email="a@example.com", reason="complaint")
    assert (
        suppressed_addresses(account_id=alice.pk, emails=["a@example.com"])["a@example.com"].reason
        == "manual"
    )
    assert (
        suppressed_addresses(account_id=bob.pk, emails=["a@example.com"])["a@example.com"].reason
        == "complaint"
    )


def test_the_lookup_is_one_query_keyed_by_lower_cased_address(alice, django_assert_num_queries):
    for n in range(3):
        suppression_add(account=alice, email=f"user{n}@example.com", reason="manual")
    with django_assert_num_queries(1):
        found = suppressed_addresses(
            account_id=alice.pk,
            emails=["USER0@example.com", "user2@Example.com", "other@example.com"],
        )
    assert set(found) == {"user0@example.com", "user2@example.com"}
    with django_assert_num_queries(0):
        assert suppressed_addresses(account_id=alice.pk, emails=[]) == {}
