"""The provider event endpoint in the OpenAPI schema (API.md section 16.1).

The endpoint is a plain Django view (it must read the raw body that signatures cover, and SNS
posts JSON as text/plain), so drf-spectacular cannot find it: this postprocessing hook adds it.
"""

_ERROR = {"$ref": "#/components/schemas/ErrorResponse"}


def _error(description: str) -> dict:
    return {"description": description, "content": {"application/json": {"schema": _ERROR}}}


FEEDBACK_PATH = {
    "post": {
        "operationId": "feedback_provider_events",
        "tags": ["feedback"],
        "summary": "Delivery events from a provider (SES via SNS, SendGrid, Mailgun)",
        "description": (
            "The URL (with its token) is shown on the provider's admin page and pasted into the "
            "provider's console; the token, not an API key, authenticates. SES posts Amazon SNS "
            "notifications (signature verified against the certificate at SigningCertURL; "
            "subscription confirmations are handled), SendGrid its Event Webhook array (ECDSA "
            "signature verified when the provider holds the verification key), Mailgun its "
            "webhook (HMAC checked with the signing key). Events are recorded before the answer; "
            "duplicates (by the provider's event id) are counted, not recorded twice; events "
            "matching no message of the provider's account are ignored."
        ),
        "security": [],
        "parameters": [
            {
                "name": "token",
                "in": "path",
                "required": True,
                "schema": {"type": "string"},
                "description": "The provider's random event URL token.",
            }
        ],
        "requestBody": {
            "required": True,
            "description": "The provider's own payload, as it sends it.",
            "content": {
                "application/json": {"schema": {}},
                "text/plain": {"schema": {"type": "string"}},
                "application/x-www-form-urlencoded": {"schema": {"type": "object"}},
                "multipart/form-data": {"schema": {"type": "object"}},
            },
        },
        "responses": {
            "200": {
                "description": "The events were read and recorded.",
                "content": {
                    "application/json": {
                        "schema": {
                            "type": "object",
                            "required": ["success", "data"],
                            "properties": {
                                "success": {"type": "boolean"},
                                "data": {
                                    "type": "object",
                                    "required": ["recorded", "duplicates", "ignored"],
                                    "properties": {
                                        "recorded": {"type": "integer"},
                                        "duplicates": {"type": "integer"},
                                        "ignored": {"type": "integer"},
                                    },
                                },
                            },
                        }
                    }
                },
            },
            "400": _error("Unparseable payload, or a missing or bad signature: nothing recorded."),
            "404": _error("No provider has this token."),
            "405": _error("Only POST is allowed."),
            "413": _error("The body is over the size limit."),
            "429": _error("Too many events for this URL (Retry-After)."),
            "503": _error("Temporarily unable to record (Retry-After): the provider retries."),
        },
    }
}


def feedback_path_add(result: dict, generator, request, public) -> dict:
    """drf-spectacular postprocessing hook: add ``/feedback/{token}``."""
    result.setdefault("paths", {})["/feedback/{token}"] = FEEDBACK_PATH
    return result
