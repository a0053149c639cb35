"""Header values that survive the trip: every line at most 998 characters, decoded exactly.

Django builds messages with the ``compat32`` email policy, whose folding breaks lines only at
whitespace, ``;`` or ``,`` and adds a space when it breaks at ``;`` or ``,``: a long
unbreakable word ends up on a continuation line of its own (one character over RFC 5322's
998, read back with a leading space; issue 9 defect 7), and a long value with commas reads
back with extra spaces. So the headers MailPass fills from input (Subject, the sender's name,
custom headers, attachment filenames) are folded here, once, and handed to the generator as
``FoldedHeader`` objects that it writes as they are.

A value is written as plain text when folding at its own spaces keeps it exact: printable
ASCII, no leading or trailing space, no ``=?`` (a reader would take it for an encoded-word),
every word short enough for a line. Anything else becomes RFC 2047 base64 encoded-words of
at most 75 characters, separated by folding white space; readers drop the white space between
two encoded-words, so the decoded value is exactly the input. Filenames become RFC 2231
parameters, split into numbered continuations (``filename*0*=``, ``filename*1*=``).
"""

import base64
import re
from email.utils import formataddr
from urllib.parse import quote

# RFC 5322: lines SHOULD be at most 78 characters and MUST be at most 998.
SOFT_LINE = 78
HARD_LINE = 998

_PRINTABLE = re.compile(r"[\x20-\x7e]*")
_ENCODED_WORD_PREFIX = "=?utf-8?b?"
# "=?utf-8?b?" + base64 + "?=" is at most 75 characters: 60 base64 characters, 45 bytes.
_ENCODED_WORD_BYTES = 45


class FoldedHeader:
    """A header value folded already (continuation lines start with a space).

    The compat32 generator calls ``encode`` on any value that is not a ``str`` and writes
    what it returns, so these lines are not folded again.
    """

    def __init__(self, text: str) -> None:
        self.text = text

    def encode(self, linesep: str = "\n", maxlinelen: int | None = None, **kwargs) -> str:
        return self.text.replace("\n", linesep)

    def __str__(self) -> str:
        return self.text

    def __repr__(self) -> str:
        return f"FoldedHeader({self.text!r})"


def _plain_is_exact(name: str, value: str) -> bool:
    if not _PRINTABLE.fullmatch(value) or "=?" in value:
        return False
    if value != value.strip(" "):
        return False  # readers strip the space after the colon and at the end
    words = value.split(" ")
    return len(name) + 2 + len(words[0]) <= HARD_LINE and all(
        len(word) < HARD_LINE for word in words
    )


def _fold(name: str, words: list[str]) -> str:
    """Join ``words`` with single spaces, folding before a word when the line would be long.

    Empty words (from doubled spaces) are never folded before: a continuation line always
    holds something other than white space.
    """
    lines: list[str] = []
    line = ""
    used = len(name) + 2
    for index, word in enumerate(words):
        if index == 0:
            line = word
            continue
        if word and used + len(line) + 1 + len(word) > SOFT_LINE:
            lines.append(line)
            line, used = word, 1
        else:
            line = f"{line} {word}"
    lines.append(line)
    return "\n ".join(lines)


def encoded_words(value: str) -> list[str]:
    """``value`` as RFC 2047 base64 encoded-words of at most 75 characters each.

    Words are cut between characters, never inside one character's UTF-8 bytes.
    """
    words: list[str] = []
    chunk = bytearray()
    for char in value:
        data = char.encode("utf-8")
        if len(chunk) + len(data) > _ENCODED_WORD_BYTES:
            words.append(_encoded_word(bytes(chunk)))
            chunk.clear()
        chunk += data
    if chunk or not words:
        words.append(_encoded_word(bytes(chunk)))
    return words


def _encoded_word(data: bytes) -> str:
    return f"{_ENCODED_WORD_PREFIX}{base64.b64encode(data).decode()}?="


def header_fold(name: str, value: str) -> FoldedHeader:
    """An unstructured header value (Subject, a custom header), folded and encoded."""
    if value == "":
        return FoldedHeader("")
    if _plain_is_exact(name, value):
        return FoldedHeader(_fold(name, value.split(" ")))
    return FoldedHeader(_fold(name, encoded_words(value)))


def sender_fold(display_name: str, address: str) -> FoldedHeader:
    """``From``: the display name quoted when plain, encoded-words otherwise, then ``<address>``."""
    if not display_name:
        return FoldedHeader(address)
    quoted = formataddr((display_name, address))
    if _plain_is_exact("From", display_name) and _PRINTABLE.fullmatch(quoted):
        # Folding happens only at spaces, inside or outside the quotes: both unfold exactly.
        return FoldedHeader(_fold("From", quoted.split(" ")))
    return FoldedHeader(_fold("From", [*encoded_words(display_name), f"<{address}>"]))


# RFC 2231 attribute-char: ASCII except specials, space, "*", "'" and "%".
_ATTRIBUTE_CHARS = "!#$&+-.^_`|~"
_QUOTABLE_FILENAME = re.compile(r"[A-Za-z0-9!#$&+\-.^_`|~()\[\]@=' ]{1,60}")
_CONTINUATION_CHARS = 60


def disposition_fold(disposition: str, filename: str) -> FoldedHeader:
    """``attachment; filename=...`` (or ``inline``), RFC 2231 encoded and folded when needed."""
    if _QUOTABLE_FILENAME.fullmatch(filename) and "  " not in filename:
        return FoldedHeader(f'{disposition}; filename="{filename}"')
    encoded = quote(filename.encode("utf-8"), safe=_ATTRIBUTE_CHARS)
    chunks: list[str] = []
    while encoded:
        cut = min(_CONTINUATION_CHARS, len(encoded))
        # Never split a %XX escape.
        escape = encoded.rfind("%", max(0, cut - 2), cut)
        if escape != -1 and cut < len(encoded):
            cut = escape
        chunks.append(encoded[:cut])
        encoded = encoded[cut:]
    if len(chunks) == 1:
        return FoldedHeader(f"{disposition};\n filename*=utf-8''{chunks[0]}")
    params = [f"filename*0*=utf-8''{chunks[0]}"]
    params += [f"filename*{n}*={chunk}" for n, chunk in enumerate(chunks[1:], start=1)]
    return FoldedHeader(disposition + ";\n " + ";\n ".join(params))
