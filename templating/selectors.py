"""Reading templates: one, a page of them, several by name for a batch."""

import base64
import binascii
import re
from dataclasses import dataclass

from django.contrib.auth.models import AbstractBaseUser

from mailpass.errors import NotFound, ValidationFailed
from templating.models import NAME_PATTERN, Template

PAGE_SIZE = 50


def template_get(*, account: AbstractBaseUser, name: str) -> Template:
    """The account's template of this name; another account's is NotFound like an unknown."""
    if not re.fullmatch(NAME_PATTERN, name):
        # Cannot be a stored name (and PostgreSQL refuses NUL in a query): no need to ask.
        raise NotFound(f"No template named {name!r}.")
    template = Template.objects.filter(account=account, name=name).first()
    if template is None:
        raise NotFound(f"No template named {name!r}.")
    return template


def templates_by_name(*, account: AbstractBaseUser, names: set[str]) -> dict[str, Template]:
    """The account's templates of these names, in one query (a batch renders many items)."""
    if not names:
        return {}
    return {t.name: t for t in Template.objects.filter(account=account, name__in=names)}


@dataclass(frozen=True)
class TemplatePage:
    templates: list[Template]
    next_cursor: str | None


# A cursor is a name (at most 100 characters) in unpadded URL-safe base64: 136 at most.
CURSOR_MAX_LENGTH = 200


def _cursor_encode(name: str) -> str:
    return base64.urlsafe_b64encode(name.encode()).decode().rstrip("=")


def _cursor_decode(cursor: str) -> str:
    try:
        name = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        name = ""
    if not re.fullmatch(NAME_PATTERN, name):
        raise ValidationFailed(
            "cursor: Not a cursor this API gave out.",
            details={"cursor": ["Not a cursor this API gave out."]},
        )
    return name


def templates_page(
    *, account: AbstractBaseUser, cursor: str | None = None, size: int = PAGE_SIZE
) -> TemplatePage:
    """The account's templates by name, ``size`` at a time, after the cursor's name."""
    queryset = Template.objects.filter(account=account).order_by("name")
    if cursor:
        queryset = queryset.filter(name__gt=_cursor_decode(cursor))
    rows = list(queryset[: size + 1])
    more = len(rows) > size
    rows = rows[:size]
    return TemplatePage(
        templates=rows, next_cursor=_cursor_encode(rows[-1].name) if more and rows else None
    )
