"""drf-spectacular postprocessing hooks that apply to every operation of the schema."""

_BAD_REQUEST = {
    "description": (
        "VALIDATION_ERROR: the request itself is malformed (a missing or disallowed Host "
        "header, an unreadable body)"
    ),
    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorResponse"}}},
}


def bad_request_documented(result: dict, generator, request, public) -> dict:
    """Every endpoint can answer 400 to a malformed request (Django refuses a bad Host before
    any view runs); say so where an operation documents no 400 of its own."""
    for operations in result.get("paths", {}).values():
        for method, operation in operations.items():
            if method in {"get", "post", "put", "patch", "delete"}:
                operation.setdefault("responses", {}).setdefault("400", _BAD_REQUEST)
    return result
