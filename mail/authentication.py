"""Authentication of the mail endpoints: the API key, and the Idempotency-Key's record with it."""

from accounts.authentication import ApiKeyAuthentication
from accounts.services import AuthenticationJoin
from mail.idempotency import idempotency_join


class IdempotencyKeyAuthentication(ApiKeyAuthentication):
    """``ApiKeyAuthentication`` that reads the request's Idempotency-Key record in the same
    statement (``request.auth.joined``: the record, or None when the key is new), so that a
    new key costs no round trip before the request's first write (``idempotent_respond``)."""

    def authentication_join(self, request) -> AuthenticationJoin | None:
        return idempotency_join(request.headers)
