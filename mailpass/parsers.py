"""The API's JSON parser."""

import re
from typing import Any

from rest_framework.exceptions import ParseError, ValidationError
from rest_framework.parsers import JSONParser

# JSON may escape a NUL (\u0000) or half of a surrogate pair (\ud800) into any string, key or
# value. Neither can be stored by PostgreSQL (text and jsonb refuse NUL; an unpaired surrogate
# is not UTF-8) nor even written back in an error message, so they are refused on the way in.
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
UNSTORABLE_MESSAGE = "Must not contain NUL characters (\\u0000) or unpaired surrogates."


def _unstorable_field(data: Any) -> str | None:
    """The top-level field (or "non_field_errors") holding an unstorable string, else None."""
    stack: list[tuple[str, Any]] = [("non_field_errors", data)]
    if isinstance(data, dict):
        stack = []
        for key, value in data.items():
            if _UNSTORABLE.search(key):
                return "non_field_errors"
            stack.append((key, value))
    while stack:  # iterative: the document may be nested almost to the recursion limit
        field, value = stack.pop()
        if isinstance(value, str):
            if _UNSTORABLE.search(value):
                return field
        elif isinstance(value, dict):
            for key, item in value.items():
                if _UNSTORABLE.search(key):
                    return field
                stack.append((field, item))
        elif isinstance(value, list):
            stack.extend((field, item) for item in value)
    return None


class ApiJSONParser(JSONParser):
    """DRF's JSON parser, with absurdly deep nesting answered as a 400, not a 500, and strings
    PostgreSQL cannot store refused as a 400 naming the field.

    ``json`` recurses once per nesting level, so ``[[[[...]]]]`` a few thousand levels deep
    raises ``RecursionError``, which is not the ``ValueError`` DRF turns into ParseError.
    """

    def parse(self, stream, media_type=None, parser_context=None):
        try:
            data = super().parse(stream, media_type, parser_context)
        except RecursionError as exc:
            raise ParseError("JSON parse error - the document is nested too deeply.") from exc
        field = _unstorable_field(data)
        if field is not None:
            # Found by the schema fuzzing: such a string reached PostgreSQL (metadata) or the
            # error renderer (an unknown field's name) and the answer was a 500.
            raise ValidationError({field: [UNSTORABLE_MESSAGE]})
        return data
