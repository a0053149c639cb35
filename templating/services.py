"""Writing templates and rendering them (API.md section 13)."""

from dataclasses import dataclass
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.db import IntegrityError, transaction
from jinja2.exceptions import SecurityError
from jinja2.utils import missing

from mailpass.errors import ValidationFailed
from templating.engine import (
    RenderLimitExceeded,
    ValueMissing,
    template_render_part,
    template_syntax_check,
)
from templating.models import Template
from templating.selectors import templates_by_name

PARTS = ("subject", "html", "text")
MAX_SUBJECT_CHARS = 998


def _invalid(details: dict[str, list[str]]) -> ValidationFailed:
    field, messages = next(iter(details.items()))
    return ValidationFailed(f"{field}: {messages[0]}", details=details)


def template_sources_check(*, subject: str, html: str, text: str) -> None:
    """Broken syntax is refused when a template is saved, naming the field that holds it."""
    details: dict[str, list[str]] = {}
    if not html and not text:
        message = "Give html or text (at least one non-empty)."
        details["html"] = [message]
        details["text"] = [message]
    for part, source in (("subject", subject), ("html", html), ("text", text)):
        error = template_syntax_check(part=part, source=source) if source else None
        if error:
            details[part] = [f"Template syntax error: {error}"]
    if details:
        raise _invalid(details)


def template_create(
    *, account: AbstractBaseUser, name: str, subject: str, html: str = "", text: str = ""
) -> Template:
    template_sources_check(subject=subject, html=html, text=text)
    taken = ValidationFailed(
        "name: A template with this name already exists.",
        details={"name": ["A template with this name already exists."]},
    )
    if Template.objects.filter(account=account, name=name).exists():
        raise taken
    try:
        with transaction.atomic():
            return Template.objects.create(
                account=account, name=name, subject=subject, html=html, text=text
            )
    except IntegrityError:  # created by a concurrent request in between
        raise taken from None


def template_replace(
    *, template: Template, subject: str, html: str = "", text: str = ""
) -> Template:
    template_sources_check(subject=subject, html=html, text=text)
    template.subject, template.html, template.text = subject, html, text
    template.save(update_fields=["subject", "html", "text", "updated_at"])
    return template


def template_delete(*, template: Template) -> None:
    # Messages keep their rendered content and the template's name: nothing points here.
    template.delete()


@dataclass(frozen=True)
class Rendered:
    subject: str
    html: str
    text: str


def _path_of(target: Any, value: Any, path: str) -> str | None:
    """Where ``target`` (by identity) sits inside the variables, as ``variables.a.b``."""
    if value is target:
        return path
    if isinstance(value, dict):
        for key, item in value.items():
            found = _path_of(target, item, f"{path}.{key}")
            if found:
                return found
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found = _path_of(target, item, f"{path}[{index}]")
            if found:
                return found
    return None


def template_render(
    *, template: Template, variables: dict[str, Any], field: str | None = None
) -> Rendered:
    """Render the three parts with the given variables; sends nothing.

    Raises ``ValidationFailed``: a missing variable names ``variables.NAME`` (dotted for keys of
    objects: ``variables.order.id``); anything else the template does wrong (an escape attempt,
    over 1 MiB or 1 s, ``1 / 0``) names ``field`` (``template`` when sending) or, when it is
    None, the part (``subject``, ``html``, ``text``). A rendered subject must be one line.
    """
    rendered: dict[str, str] = {}
    for part in PARTS:
        source = getattr(template, part)
        try:
            rendered[part] = template_render_part(part=part, source=source, variables=variables)
        except ValueMissing as exc:
            where = None
            if not exc.unsafe:
                if exc.obj is missing:
                    where = "variables"
                else:
                    where = _path_of(exc.obj, variables, "variables")
            if where is not None:
                name = f"[{exc.name}]" if isinstance(exc.name, int) else f".{exc.name}"
                key = f"{where}{name}"
                raise _invalid(
                    {key: [f"The template's {part} uses it and it is not given."]}
                ) from None
            raise _invalid({field or part: [f"{part}: {exc.message}"]}) from None
        except (SecurityError, RenderLimitExceeded) as exc:
            raise _invalid({field or part: [f"{part}: {exc}"]}) from None
        except RecursionError:
            raise _invalid({field or part: [f"{part}: recursion too deep"]}) from None
        except Exception as exc:  # the template's own expressions: 1 / 0, 'a' + 1, ...
            raise _invalid(
                {field or part: [f"{part}: {exc.__class__.__name__}: {exc}"[:500]]}
            ) from None
    subject = rendered["subject"]
    problem = None
    if "\r" in subject or "\n" in subject:
        problem = "The rendered subject contains a line break (CR or LF)."
    elif not subject:
        problem = "The rendered subject is empty."
    elif len(subject) > MAX_SUBJECT_CHARS:
        problem = f"The rendered subject is longer than {MAX_SUBJECT_CHARS} characters."
    elif not rendered["html"] and not rendered["text"]:
        problem = "The template rendered neither html nor text."
    if problem:
        raise _invalid({"variables": [problem]})
    return Rendered(**rendered)


def message_data_render(
    *,
    account: AbstractBaseUser,
    data: dict[str, Any],
    templates: dict[str, Template] | None = None,
) -> dict[str, Any]:
    """Validated message input with ``template`` + ``variables`` turned into the rendered
    ``subject``, ``html`` and ``text`` (and ``template_name``); other input as it is.

    ``templates`` are the account's templates already read (a batch reads them in one query);
    without it the template is read here. Raises ``ValidationFailed`` on ``template`` (unknown,
    or the template does something it may not) or ``variables.NAME`` (missing).
    """
    name = data.get("template")
    if name is None:
        return data
    if templates is None:
        templates = templates_by_name(account=account, names={name})
    template = templates.get(name)
    if template is None:
        raise _invalid({"template": [f"No template named {name!r}."]})
    rendered = template_render(
        template=template, variables=data.get("variables", {}), field="template"
    )
    result = {key: value for key, value in data.items() if key not in ("template", "variables")}
    result.update(
        subject=rendered.subject, html=rendered.html, text=rendered.text, template_name=name
    )
    return result


def batch_items_render(*, account: AbstractBaseUser, items: list[Any]) -> None:
    """Render the template of every valid batch item (``mail.queue.BatchItem``); an item whose
    template fails gets its own error, like any other invalid item. One query for all."""
    names = {
        item.data["template"]
        for item in items
        if item.error is None and item.data and "template" in item.data
    }
    if not names:
        return
    templates = templates_by_name(account=account, names=names)
    for item in items:
        if item.error is not None or "template" not in item.data:
            continue
        try:
            item.data = message_data_render(account=account, data=item.data, templates=templates)
        except ValidationFailed as exc:
            item.error = {"code": exc.code, "message": exc.message, "details": exc.details}
