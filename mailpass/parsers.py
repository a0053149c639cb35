"""The API's JSON parser."""

from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser


class ApiJSONParser(JSONParser):
    """DRF's JSON parser, with absurdly deep nesting answered as a 400, not a 500.

    ``json`` recurses once per nesting level, so ``[[[[...]]]]`` a few thousand levels deep
    raises ``RecursionError``, which is not the ``ValueError`` DRF turns into ParseError.
    """

    def parse(self, stream, media_type=None, parser_context=None):
        try:
            return super().parse(stream, media_type, parser_context)
        except RecursionError as exc:
            raise ParseError("JSON parse error - the document is nested too deeply.") from exc
