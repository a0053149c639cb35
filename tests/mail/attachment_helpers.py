"""Attachment files for the tests, and reading them back out of a received email."""

import base64
import os
from email.message import EmailMessage

# Bytes that a careless MIME path would change: CRLF and LF mixed, no final newline, NUL,
# invalid UTF-8, trailing spaces.
TEXT_FILE = b"line one\r\nline two\nline three  \r\n\r\nno newline at the end"
BINARY_FILE = bytes(range(256)) * 8 + os.urandom(3000)
CSV_FILE = "name;city\r\nZoë;Köln\r\n".encode()
PNG_FILE = b"\x89PNG\r\n\x1a\n" + os.urandom(500)


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def structure(part: EmailMessage) -> object:
    """The MIME tree as nested content types: ``("multipart/mixed", ["text/plain", ...])``."""
    if part.is_multipart():
        return (part.get_content_type(), [structure(p) for p in part.iter_parts()])
    return part.get_content_type()


def leaves(part: EmailMessage) -> list[EmailMessage]:
    if part.is_multipart():
        return [leaf for p in part.iter_parts() for leaf in leaves(p)]
    return [part]


def files(mail: EmailMessage) -> dict[str, EmailMessage]:
    """Parts with a filename, by filename."""
    return {p.get_filename(): p for p in leaves(mail) if p.get_filename() is not None}
