"""Custom headers of a message (API.md section 12): which names and values are allowed.

A caller may add headers (``List-Unsubscribe``, ``X-Entity-Ref-ID``...), never replace one
MailPass writes itself: a ``Bcc`` would leak hidden recipients, a ``Message-ID`` would break
status lookups and provider feedback, a ``Content-Type`` would break the MIME structure.
"""

import re
from typing import Any

MAX_HEADERS = 20
MAX_NAME_CHARS = 100
MAX_VALUE_CHARS = 998

# RFC 5322 field name: printable ASCII except the colon.
NAME_PATTERN = r"^[\x21-\x39\x3b-\x7e]+$"
_NAME = re.compile(NAME_PATTERN)

RESERVED_NAMES = frozenset(
    {
        "from",
        "sender",
        "to",
        "cc",
        "bcc",
        "reply-to",
        "subject",
        "date",
        "message-id",
        "mime-version",
        "return-path",
        "received",
        "dkim-signature",
    }
)
RESERVED_PREFIXES = ("content-", "x-mailpass-")


class HeadersInvalid(Exception):
    """``errors`` maps a header name (``None`` for the object as a whole) to messages."""

    def __init__(self, errors: dict[str | None, list[str]]) -> None:
        super().__init__(errors)
        self.errors = errors


def _name_problem(name: str) -> str | None:
    if not 1 <= len(name) <= MAX_NAME_CHARS:
        return f"A header name has 1 to {MAX_NAME_CHARS} characters."
    if not _NAME.fullmatch(name):
        return "Not a header name (printable ASCII without ':' or white space)."
    lowered = name.lower()
    if lowered in RESERVED_NAMES or lowered.startswith("content-"):
        return "MailPass writes this header itself; it cannot be set."
    if lowered.startswith("x-mailpass-"):
        return "Names starting with X-MailPass- are reserved."
    return None


def headers_parse(value: Any) -> dict[str, str]:
    """Validate a ``headers`` object; the headers as given, or ``HeadersInvalid``."""
    if not isinstance(value, dict):
        raise HeadersInvalid({None: ["Must be an object of header names to string values."]})
    if len(value) > MAX_HEADERS:
        raise HeadersInvalid({None: [f"At most {MAX_HEADERS} headers (got {len(value)})."]})
    errors: dict[str | None, list[str]] = {}
    seen: dict[str, str] = {}
    for name, header_value in value.items():
        problems = []
        if (problem := _name_problem(name)) is not None:
            problems.append(problem)
        elif name.lower() in seen:
            problems.append(f"Given twice (as {seen[name.lower()]!r}; names ignore case).")
        seen.setdefault(name.lower(), name)
        if not isinstance(header_value, str):
            problems.append("Must be a string.")
        elif "\r" in header_value or "\n" in header_value:
            problems.append("Must not contain line breaks (CR or LF).")
        elif len(header_value) > MAX_VALUE_CHARS:
            problems.append(f"At most {MAX_VALUE_CHARS} characters.")
        if problems:
            errors[name] = problems
    if errors:
        raise HeadersInvalid(errors)
    return dict(value)
