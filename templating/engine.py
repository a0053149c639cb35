"""The template engine (API.md section 13): Jinja2's sandbox, bounded in output, time and size.

Templates are written by account owners and are not trusted. What rendering can reach:

- only the given variables (plain JSON: objects, arrays, strings, numbers, booleans, null) and
  ordinary filters. Dotted access reads keys of objects (``order.id``) and nothing else: no
  attributes or methods of Python objects (``''.__class__``, ``name.upper()``), so nothing
  leads from a value to a module, a setting or a file.
- no global names of the engine (``range``, ``lipsum``, ``dict``, ``cycler``, ``joiner``,
  ``namespace``) and no ``self``: they are missing variables like any other.
- no loader: ``include``, ``import`` and ``extends`` are refused when the template is saved.

Output is at most ``MAX_OUTPUT_BYTES`` per part, counted while it streams; a render stops after
``MAX_RENDER_SECONDS``: the clock is read in every loop iteration, call (macros, recursion) and
filter. Nothing may build a value larger than the output limit first and be refused later:
``*`` and ``+`` on strings and arrays, ``~``, ``join`` and ``replace`` check the size of their
result before making it, containers are measured (a bounded walk) before they become text, and
``%`` string formatting and the filters whose size or time does not depend on their input
(``center``, ``indent``, ``wordwrap``, ``format``, ``slice``...) are not available.
"""

import contextvars
import functools
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from jinja2 import StrictUndefined, TemplateSyntaxError, Undefined, UndefinedError, nodes
from jinja2.exceptions import SecurityError
from jinja2.filters import FILTERS
from jinja2.runtime import LoopContext
from jinja2.sandbox import SandboxedEnvironment
from jinja2.utils import missing, pass_context, pass_eval_context
from jinja2.visitor import NodeTransformer
from markupsafe import Markup

MAX_OUTPUT_BYTES = 1024 * 1024
MAX_RENDER_SECONDS = 1.0
# Arrays a template builds (``*``, ``+``) hold at most this many items.
MAX_ITEMS = 100_000
# Integers a template computes stay below this many bits (``**`` and ``*`` are checked first).
MAX_INT_BITS = 4096
# Number arguments of filters (truncate's length, batch's size...) and tojson's indent.
MAX_FILTER_NUMBER = 100_000
MAX_JSON_INDENT = 16
# Loop iterations of one render, all loops together: keeps buffers of macros small too.
MAX_ITERATIONS = 1_000_000

ALLOWED_FILTERS = (
    "abs",
    "batch",
    "capitalize",
    "count",
    "d",
    "default",
    "dictsort",
    "e",
    "escape",
    "filesizeformat",
    "first",
    "float",
    "forceescape",
    "groupby",
    "int",
    "items",
    "join",
    "last",
    "length",
    "list",
    "lower",
    "map",
    "max",
    "min",
    "reject",
    "rejectattr",
    "replace",
    "reverse",
    "round",
    "safe",
    "select",
    "selectattr",
    "sort",
    "string",
    "striptags",
    "sum",
    "title",
    "tojson",
    "trim",
    "truncate",
    "unique",
    "upper",
    "urlencode",
    "urlize",
    "wordcount",
)
LOOP_ATTRIBUTES = frozenset(
    {
        "index",
        "index0",
        "revindex",
        "revindex0",
        "first",
        "last",
        "length",
        "depth",
        "depth0",
        "previtem",
        "nextitem",
        "cycle",
        "changed",
    }
)
GROUP_ATTRIBUTES = frozenset({"grouper", "list"})

# Hidden filters the AST rewrite inserts (a template cannot name them: not identifiers).
_LOOP_GUARD = "mp:loop"
_CONCAT = "mp:concat"
_VARIABLE = "mp:variable"


class RenderLimitExceeded(Exception):
    """Output, time or size over its bound."""


class ValueMissing(UndefinedError):
    """A name or key the template uses and the variables do not have."""

    def __init__(self, message: str | None, *, name: Any, obj: Any, unsafe: bool) -> None:
        super().__init__(message)
        self.name = name
        self.obj = obj
        self.unsafe = unsafe


class _Missing(StrictUndefined):
    """StrictUndefined whose error says which name was missing and where it was looked up."""

    __slots__ = ()

    def __init__(self, hint=None, obj=missing, name=None, exc=UndefinedError) -> None:
        super().__init__(
            hint,
            obj,
            name,
            functools.partial(ValueMissing, name=name, obj=obj, unsafe=exc is SecurityError),
        )


@dataclass
class _Budget:
    deadline: float
    iterations: int = 0


_budget: contextvars.ContextVar[_Budget | None] = contextvars.ContextVar(
    "template_budget", default=None
)


def _clock_check() -> None:
    budget = _budget.get()
    if budget is not None and time.monotonic() > budget.deadline:
        raise RenderLimitExceeded(f"rendering took longer than {MAX_RENDER_SECONDS:g} s")


def _size_check(value: Any) -> None:
    """Refuse a value whose text would be over the output limit, without making the text.

    A bounded walk: arrays that hold the same big string many times stop it early.
    """
    budget = MAX_OUTPUT_BYTES
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            budget -= len(item)
        elif isinstance(item, dict):
            budget -= 2 + len(item)
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, (list, tuple)):
            budget -= 2 + len(item)
            stack.extend(item)
        elif isinstance(item, Undefined):
            item._fail_with_undefined_error()  # a missing key inside an array (map, select)
        else:
            budget -= 8
        if budget < 0:
            raise RenderLimitExceeded(f"a value is larger than {MAX_OUTPUT_BYTES} characters")


def _bounded_filter(name: str, func: Callable[..., Any]) -> Callable[..., Any]:
    offset = 1 if getattr(func, "jinja_pass_arg", None) is not None else 0

    @functools.wraps(func)
    def bounded(*args: Any, **kwargs: Any) -> Any:
        _clock_check()
        for position, arg in enumerate((*args[offset:], *kwargs.values())):
            if isinstance(arg, (str, list, tuple, dict)):
                _size_check(arg)
            elif position and isinstance(arg, int) and abs(arg) > MAX_FILTER_NUMBER:
                # batch(10**9, 'x') would pad to a billion items, tojson(indent=10**9) ...
                raise RenderLimitExceeded(f"{name}: a number argument over {MAX_FILTER_NUMBER}")
        if name == "tojson":
            extra = args[offset + 1 :]
            indent = kwargs.get("indent", extra[0] if extra else None)
            if isinstance(indent, int) and indent > MAX_JSON_INDENT:
                raise RenderLimitExceeded(f"tojson: indent over {MAX_JSON_INDENT}")
        if name == "replace" and len(args) > offset + 2:
            _replace_check(*args[offset : offset + 3])
        if name == "sum" and not isinstance(kwargs.get("start", 0), (int, float)):
            raise SecurityError("sum: start must be a number")
        result = func(*args, **kwargs)
        if isinstance(result, str) and len(result) > MAX_OUTPUT_BYTES:
            raise RenderLimitExceeded(f"{name} made more than {MAX_OUTPUT_BYTES} characters")
        return result

    return bounded


def _replace_check(value: Any, old: Any, new: Any) -> None:
    value, old, new = str(value), str(old), str(new)
    count = len(value) + 1 if not old else value.count(old)
    if len(value) + count * max(0, len(new) - len(old)) > MAX_OUTPUT_BYTES:
        raise RenderLimitExceeded(f"replace would make more than {MAX_OUTPUT_BYTES} characters")


@pass_eval_context
def _join(eval_ctx: Any, value: Iterable[Any], d: str = "", attribute: Any = None) -> str:
    """``join`` that measures what it would make first (items may repeat one big string)."""
    from jinja2.filters import sync_do_join

    items = list(value)
    if len(items) > MAX_ITEMS:
        raise RenderLimitExceeded(f"join of more than {MAX_ITEMS} items")
    _size_check([str(d)] * max(0, len(items) - 1) + items)
    return sync_do_join(eval_ctx, items, d, attribute)


def _loop_guard(iterable: Any) -> Iterator[Any]:
    """Every ``{% for %}`` iterates through this: the clock and the iteration count."""
    budget = _budget.get()
    if isinstance(iterable, (str, list, tuple, dict)):
        _size_check(iterable)
    for item in iterable:
        if budget is not None:
            budget.iterations += 1
            if budget.iterations > MAX_ITERATIONS:
                raise RenderLimitExceeded(f"more than {MAX_ITERATIONS} loop iterations")
            if time.monotonic() > budget.deadline:
                raise RenderLimitExceeded(f"rendering took longer than {MAX_RENDER_SECONDS:g} s")
        yield item


@pass_eval_context
def _concat(eval_ctx: Any, values: list[Any]) -> str:
    """The ``~`` operator, measured before it joins."""
    _clock_check()
    _size_check(values)
    if eval_ctx.autoescape:
        return Markup("").join(values)
    return "".join(str(value) for value in values)


@pass_context
def _variable(context: Any, name: str) -> Any:
    """A name the engine would otherwise answer itself (``self``): only the variables'."""
    value = context.resolve_or_missing(name)
    if value is missing:
        return context.environment.undefined(name=name)
    return value


class _Rewrite(NodeTransformer):
    """Puts the guards into the parsed template; refuses includes, imports and extends."""

    def visit_For(self, node: nodes.For) -> nodes.Node:
        node = self.generic_visit(node)
        node.iter = nodes.Filter(node.iter, _LOOP_GUARD, [], [], None, None, lineno=node.lineno)
        return node

    def visit_Concat(self, node: nodes.Concat) -> nodes.Node:
        node = self.generic_visit(node)
        values = nodes.List(node.nodes, lineno=node.lineno)
        return nodes.Filter(values, _CONCAT, [], [], None, None, lineno=node.lineno)

    def visit_Name(self, node: nodes.Name) -> nodes.Node:
        if node.name == "self" and node.ctx == "load":
            name = nodes.Const("self", lineno=node.lineno)
            return nodes.Filter(name, _VARIABLE, [], [], None, None, lineno=node.lineno)
        return node

    def _refuse(self, node: nodes.Node) -> None:
        raise TemplateSyntaxError(
            "include, import and extends are not available in templates", node.lineno
        )

    visit_Include = visit_Import = visit_FromImport = visit_Extends = _refuse


def _int_check(value: Any) -> None:
    if isinstance(value, int) and value.bit_length() > MAX_INT_BITS:
        raise RenderLimitExceeded(f"a number larger than {MAX_INT_BITS} bits")


class TemplateEnvironment(SandboxedEnvironment):
    """The sandbox with the rules of the module docstring."""

    intercepted_binops = frozenset({"*", "**", "+", "%"})

    def __init__(self, *, autoescape: bool) -> None:
        super().__init__(
            autoescape=autoescape,
            undefined=_Missing,
            loader=None,
            cache_size=0,
            auto_reload=False,
            finalize=self._finalize_value,
        )
        self.globals.clear()
        self.filters = {name: _bounded_filter(name, FILTERS[name]) for name in ALLOWED_FILTERS}
        self.filters["join"] = _bounded_filter("join", _join)
        self.filters[_LOOP_GUARD] = _loop_guard
        self.filters[_CONCAT] = _concat
        self.filters[_VARIABLE] = _variable
        self.concat = self._concat_buffer  # macro, block and {% set %} buffers

    @staticmethod
    def _finalize_value(value: Any) -> Any:
        # Every {{ ... }} passes here before it becomes text.
        if isinstance(value, (str, list, tuple, dict)):
            _size_check(value)
        return value

    @staticmethod
    def _concat_buffer(chunks: Iterable[str]) -> str:
        chunks = list(chunks)
        if sum(len(chunk) for chunk in chunks) > MAX_OUTPUT_BYTES:
            raise RenderLimitExceeded(f"output over {MAX_OUTPUT_BYTES} bytes")
        return "".join(chunks)

    def _generate(self, source, name, filename, defer_init=False):  # noqa: ANN001
        source = _Rewrite().visit(source)
        return super()._generate(source, name, filename, defer_init=defer_init)

    # --- what names and keys reach ----------------------------------------------------------

    def getattr(self, obj: Any, attribute: str) -> Any:
        if isinstance(obj, Undefined):
            return obj  # the first missing name is the one to report
        if isinstance(obj, dict):
            if attribute in obj:
                return obj[attribute]
            return self.undefined(obj=obj, name=attribute)
        if isinstance(obj, LoopContext) and attribute in LOOP_ATTRIBUTES:
            return getattr(obj, attribute)
        if type(obj).__name__ == "_GroupTuple" and attribute in GROUP_ATTRIBUTES:
            return getattr(obj, attribute)
        return self.undefined(
            f"{attribute!r} of a {type(obj).__name__} is not available (only keys of objects)",
            obj=obj,
            name=attribute,
            exc=SecurityError,
        )

    def getitem(self, obj: Any, argument: Any) -> Any:
        if isinstance(obj, Undefined):
            return obj
        if isinstance(obj, dict):
            if isinstance(argument, str) and argument in obj:
                return obj[argument]
            return self.undefined(obj=obj, name=argument)
        if isinstance(obj, (list, tuple, str)) and (
            (isinstance(argument, int) and not isinstance(argument, bool))
            or isinstance(argument, slice)
        ):
            try:
                return obj[argument]
            except IndexError:
                return self.undefined(obj=obj, name=argument)
        if isinstance(argument, str):
            return self.getattr(obj, argument)
        return self.undefined(obj=obj, name=argument)

    def call(__self, __context, __obj, *args, **kwargs):  # noqa: N805
        _clock_check()
        return super().call(__context, __obj, *args, **kwargs)

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        _clock_check()
        if operator == "%" and isinstance(left, str):
            raise SecurityError("% string formatting is not available; use filters")
        if operator == "*":
            for seq, times in ((left, right), (right, left)):
                if isinstance(seq, (str, list, tuple)) and isinstance(times, int):
                    limit = MAX_OUTPUT_BYTES if isinstance(seq, str) else MAX_ITEMS
                    if len(seq) * max(0, times) > limit:
                        raise RenderLimitExceeded(f"a value larger than {limit} items or bytes")
            if isinstance(left, int) and isinstance(right, int):
                if left.bit_length() + right.bit_length() > MAX_INT_BITS:
                    raise RenderLimitExceeded(f"a number larger than {MAX_INT_BITS} bits")
        elif operator == "**":
            if isinstance(left, int) and isinstance(right, int):
                if right > 0 and max(1, left.bit_length()) * right > MAX_INT_BITS:
                    raise RenderLimitExceeded(f"a number larger than {MAX_INT_BITS} bits")
        elif operator == "+":
            if isinstance(left, str) and isinstance(right, str):
                if len(left) + len(right) > MAX_OUTPUT_BYTES:
                    raise RenderLimitExceeded(f"a value larger than {MAX_OUTPUT_BYTES} bytes")
            elif isinstance(left, (list, tuple)) and isinstance(right, (list, tuple)):
                if len(left) + len(right) > MAX_ITEMS:
                    raise RenderLimitExceeded(f"an array longer than {MAX_ITEMS} items")
        result = self.binop_table[operator](left, right)
        _int_check(result)
        return result


_html_environment = TemplateEnvironment(autoescape=True)
_plain_environment = TemplateEnvironment(autoescape=False)


def _environment(part: str) -> TemplateEnvironment:
    return _html_environment if part == "html" else _plain_environment


@functools.lru_cache(maxsize=1024)
def template_compile(*, part: str, source: str) -> Any:
    """The compiled template of one part (``subject``, ``html`` or ``text``); cached by source.

    Raises ``TemplateSyntaxError``.
    """
    return _environment(part).from_string(source)


def template_render_part(*, part: str, source: str, variables: dict[str, Any]) -> str:
    """Render one part, streaming: stops at ``MAX_OUTPUT_BYTES`` or ``MAX_RENDER_SECONDS``.

    Raises ``ValueMissing``, ``RenderLimitExceeded``, ``SecurityError`` or any error the
    template's own expressions raise (``1 / 0``); the caller reports them.
    """
    if not source:
        return ""
    template = template_compile(part=part, source=source)
    deadline = time.monotonic() + MAX_RENDER_SECONDS
    token = _budget.set(_Budget(deadline=deadline))
    try:
        chunks: list[str] = []
        size = 0
        for chunk in template.generate(variables):
            size += (
                len(chunk.encode("utf-8", "surrogatepass")) if not chunk.isascii() else len(chunk)
            )
            if size > MAX_OUTPUT_BYTES:
                raise RenderLimitExceeded(f"output over {MAX_OUTPUT_BYTES} bytes")
            if time.monotonic() > deadline:
                raise RenderLimitExceeded(f"rendering took longer than {MAX_RENDER_SECONDS:g} s")
            chunks.append(chunk)
        return "".join(chunks)
    finally:
        _budget.reset(token)


def template_syntax_check(*, part: str, source: str) -> str | None:
    """None when the part compiles, else the error with its line."""
    try:
        template_compile(part=part, source=source)
    except TemplateSyntaxError as exc:  # TemplateAssertionError (unknown filter) included
        return f"line {exc.lineno}: {exc.message}"
    return None
