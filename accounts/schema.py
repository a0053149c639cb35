"""OpenAPI description of the API-key authentication (drf-spectacular extension).

Loaded by ``AccountsConfig.ready`` so the schema, Swagger UI and ``check --deploy`` know the
scheme: ``Authorization: Bearer mp_live_...``.
"""

from drf_spectacular.extensions import OpenApiAuthenticationExtension


class ApiKeyAuthenticationScheme(OpenApiAuthenticationExtension):
    target_class = "accounts.authentication.ApiKeyAuthentication"
    name = "ApiKeyAuth"

    def get_security_definition(self, auto_schema):
        return {
            "type": "http",
            "scheme": "bearer",
            "bearerFormat": "mp_live_... or mp_test_... API key",
        }
