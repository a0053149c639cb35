"""The suppressions resource against a running MailPass."""

from __future__ import annotations

import pytest

from mailpass import NotFoundError

pytestmark = pytest.mark.server


def test_an_address_is_added_found_listed_and_removed(client, unique):
    address = unique("unsubscribed") + "@example.com"

    entry = client.suppressions.add(address, reason="unsubscribe", detail="clicked the link")
    assert (entry["email"], entry["reason"], entry["detail"]) == (
        address,
        "unsubscribe",
        "clicked the link",
    )
    assert entry["message_id"] is None
    # Adding it again answers the entry unchanged.
    assert client.suppressions.add(address, reason="manual") == entry
    assert client.suppressions.get(address.upper()) == entry
    page = client.suppressions.list(email=address, reason="unsubscribe")
    assert page["suppressions"] == [entry]
    assert page["next_cursor"] is None
    assert address in [e["email"] for e in client.suppressions.iter_all()]

    assert client.suppressions.remove(address) == entry
    with pytest.raises(NotFoundError):
        client.suppressions.remove(address)
