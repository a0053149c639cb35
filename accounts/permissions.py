"""Permission classes: an API key holds named permissions (API.md section 1); each endpoint
names the one it needs."""

from rest_framework import permissions

from accounts.models import (
    PERMISSION_MAIL,
    PERMISSION_SUPPRESSIONS,
    PERMISSION_TEMPLATES,
    PERMISSION_WEBHOOKS,
    ApiKey,
)


class HasApiKeyPermission(permissions.BasePermission):
    required_permission: str = ""
    message = "This API key lacks the required permission."

    def has_permission(self, request, view) -> bool:
        api_key = request.auth
        if not isinstance(api_key, ApiKey):
            # Anonymous: DRF answers 401 because the authenticator sets WWW-Authenticate.
            return False
        if not api_key.has_permission(self.required_permission):
            self.message = f"This API key lacks the '{self.required_permission}' permission."
            return False
        return True


class HasMailPermission(HasApiKeyPermission):
    required_permission = PERMISSION_MAIL


class HasTemplatesPermission(HasApiKeyPermission):
    required_permission = PERMISSION_TEMPLATES


class HasSuppressionsPermission(HasApiKeyPermission):
    required_permission = PERMISSION_SUPPRESSIONS


class HasWebhooksPermission(HasApiKeyPermission):
    required_permission = PERMISSION_WEBHOOKS
