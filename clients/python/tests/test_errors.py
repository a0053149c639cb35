"""Each family of error codes arrives as its own exception, with code, status and details."""

from __future__ import annotations

import os

import pytest

import mailpass
from mailpass import (
    AuthenticationError,
    ConflictError,
    MailPass,
    NotFoundError,
    PermissionDeniedError,
    UnprocessableError,
    ValidationError,
)

pytestmark = pytest.mark.server


def test_an_unknown_key_is_an_authentication_error():
    with MailPass("mp_live_" + "x" * 43) as client, pytest.raises(AuthenticationError) as caught:
        client.mail.status("<nothing@mailpass.im>")

    assert (caught.value.code, caught.value.status) == ("UNAUTHORIZED", 401)
    assert caught.value.details == {}


def test_a_key_without_the_permission_is_a_permission_error():
    with MailPass(os.environ["MAILPASS_MAIL_ONLY_KEY"]) as client:
        with pytest.raises(PermissionDeniedError) as caught:
            client.templates.list()

    assert (caught.value.code, caught.value.status) == ("FORBIDDEN", 403)


def test_an_invalid_field_is_a_validation_error_naming_it(client):
    with pytest.raises(ValidationError) as caught:
        client.mail.send(to="not-an-address", subject="Hi", text="Hello")

    assert (caught.value.code, caught.value.status) == ("VALIDATION_ERROR", 400)
    assert "to" in caught.value.details
    assert isinstance(caught.value, mailpass.APIError)


def test_an_unknown_message_is_not_found(client):
    with pytest.raises(NotFoundError) as caught:
        client.mail.status("<unknown.1@mailpass.im>")

    assert (caught.value.code, caught.value.status) == ("NOT_FOUND", 404)


def test_an_idempotency_key_reused_with_another_body_is_a_conflict(client, unique):
    key = unique("key")
    client.mail.send(to="user@example.com", subject="First", text="1", idempotency_key=key)

    with pytest.raises(ConflictError) as caught:
        client.mail.send(to="user@example.com", subject="Second", text="2", idempotency_key=key)

    assert (caught.value.code, caught.value.status) == ("IDEMPOTENCY_CONFLICT", 409)
    assert caught.value.details["idempotency_key"] == key


def test_an_account_without_a_provider_is_unprocessable():
    with MailPass(os.environ["MAILPASS_NO_PROVIDER_KEY"]) as client:
        with pytest.raises(UnprocessableError) as caught:
            client.mail.send(to="user@example.com", subject="Hi", text="Hello")

    assert (caught.value.code, caught.value.status) == ("NO_SMTP_PROVIDER", 422)


def test_a_suppressed_recipient_is_unprocessable_with_the_reason(client, unique):
    address = unique("gone") + "@example.com"
    client.suppressions.add(address, reason="unsubscribe")

    with pytest.raises(UnprocessableError) as caught:
        client.mail.send(to=address, subject="Hi", text="Hello")

    assert (caught.value.code, caught.value.status) == ("RECIPIENT_SUPPRESSED", 422)
    assert caught.value.details["to"] == address
    assert caught.value.details["reason"] == "unsubscribe"


def test_no_server_at_all_is_a_connection_error():
    with MailPass("mp_live_" + "x" * 43, base_url="http://127.0.0.1:9", max_retries=1) as client:
        with pytest.raises(mailpass.APIConnectionError):
            client.mail.status("<x@mailpass.im>")
