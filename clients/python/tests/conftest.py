"""Fixtures of the client's tests.

Tests marked ``server`` talk to a running MailPass. ``tests/clients/`` in the MailPass repository
starts one (real PostgreSQL, an SMTP sink) and runs these tests as a child process with:

- ``MAILPASS_BASE_URL``: the server; ``MAILPASS_API_KEY``: a live key with every permission;
- ``MAILPASS_MAIL_ONLY_KEY``: a key with only ``mail``; ``MAILPASS_NO_PROVIDER_KEY``: a key of
  an account without an SMTP provider;
- ``MAILPASS_PROXY_URL``: a proxy to the server that forwards each request but drops the answer
  to the first request of every Idempotency-Key (a lost answer);
- ``MAILPASS_TEST_REPORT``: a JSON file where tests note what the parent checks afterwards in
  the SMTP sink (message ids).

Without them the server tests skip; the others (webhook verification, retry policy, the Django
message conversion) run anywhere.
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Callable, Iterator

import pytest

from mailpass import MailPass


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if os.environ.get("MAILPASS_BASE_URL") and os.environ.get("MAILPASS_API_KEY"):
        return
    skip = pytest.mark.skip(reason="needs a running MailPass (MAILPASS_BASE_URL, MAILPASS_API_KEY)")
    for item in items:
        if "server" in item.keywords:
            item.add_marker(skip)


def env_key(name: str) -> str:
    value = os.environ.get(name)
    if not value:
        pytest.skip(f"{name} is not set")
    return value


@pytest.fixture
def client() -> Iterator[MailPass]:
    """A client with the all-permissions key; base URL from MAILPASS_BASE_URL."""
    with MailPass(env_key("MAILPASS_API_KEY")) as mailpass:
        yield mailpass


@pytest.fixture
def unique() -> Callable[[str], str]:
    """A name or address no other test (or earlier run) uses."""

    def make(prefix: str) -> str:
        return f"{prefix}-{uuid.uuid4().hex[:10]}"

    return make


@pytest.fixture
def report() -> Callable[[str, object], None]:
    """Note a fact for the parent test (appended to MAILPASS_TEST_REPORT as JSON)."""
    path = os.environ.get("MAILPASS_TEST_REPORT")

    def note(name: str, value: object) -> None:
        if not path:
            return
        facts = {}
        if os.path.exists(path) and os.path.getsize(path):
            with open(path, encoding="utf-8") as file:
                facts = json.load(file)
        facts.setdefault(name, []).append(value)
        with open(path, "w", encoding="utf-8") as file:
            json.dump(facts, file)

    return note


@pytest.fixture(scope="session")
def django_settings():
    """Django configured as an app using the backend would be (no database needed)."""
    django = pytest.importorskip("django")
    from django.conf import settings

    if not settings.configured:
        settings.configure(
            EMAIL_BACKEND="mailpass.django.EmailBackend",
            MAILPASS_API_KEY=os.environ.get("MAILPASS_API_KEY", "mp_test_not_set"),
            DEFAULT_FROM_EMAIL="support@yourdomain.com",
        )
        django.setup()
    return settings
