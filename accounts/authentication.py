"""Bearer API-key authentication for DRF (API.md section 1)."""

from rest_framework import authentication, exceptions

from accounts.services import AuthenticationJoin, api_key_authenticate


class ApiKeyAuthentication(authentication.BaseAuthentication):
    """``Authorization: Bearer mp_live_...``; ``request.auth`` is the ``ApiKey``.

    A missing header leaves the request anonymous (the permission then answers 401); a header
    that is present but malformed, unknown or revoked is refused at once.
    """

    keyword = "Bearer"

    def authenticate(self, request):
        header = authentication.get_authorization_header(request)
        if not header:
            return None
        try:
            scheme, _, token = header.decode("ascii").partition(" ")
        except UnicodeDecodeError as exc:
            raise exceptions.AuthenticationFailed("Malformed Authorization header.") from exc
        token = token.strip()
        if scheme.lower() != self.keyword.lower() or not token or " " in token:
            raise exceptions.AuthenticationFailed(
                "Malformed Authorization header: expected 'Bearer <api key>'."
            )
        api_key = api_key_authenticate(plain_key=token, join=self.authentication_join(request))
        if api_key is None:
            raise exceptions.AuthenticationFailed("Invalid or revoked API key.")
        return (api_key.account, api_key)

    def authentication_join(self, request) -> AuthenticationJoin | None:
        """A row of the caller's account to read with the key (``api_key.joined``): the view's
        ``authentication_join(request)`` says which, for a view whose requests need one."""
        view = request.parser_context.get("view") if request.parser_context else None
        join = getattr(view, "authentication_join", None)
        return join(request) if join is not None else None

    def authenticate_header(self, request) -> str:
        return f'{self.keyword} realm="api"'
