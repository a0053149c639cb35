"""Untrusted template authors: what rendering cannot reach, and its bounds (API.md s.13).

Each attempt is a VALIDATION_ERROR (through the render preview, so the answer is the API's),
never a 500, never a value of Python's own, and it stops quickly.
"""

import time

import pytest

from templating.engine import MAX_OUTPUT_BYTES
from templating.models import Template

pytestmark = pytest.mark.django_db


def attempt(alice, client, source: str, variables: dict | None = None, part: str = "html"):
    """Store the template through the ORM (its syntax is valid) and render it through the API."""
    Template.objects.filter(account=alice, name="t").delete()
    fields = {"subject": "s", "html": "", "text": "", part: source}
    if part == "subject":
        fields["text"] = "t"
    Template.objects.create(account=alice, name="t", **fields)
    started = time.monotonic()
    response = client.post(
        "/api/v1/templates/t/render", {"variables": variables or {}}, format="json"
    )
    elapsed = time.monotonic() - started
    return response, elapsed


def refused(response) -> dict:
    assert response.status_code == 400, response.content[:500]
    error = response.json()["error"]
    assert error["code"] == "VALIDATION_ERROR"
    return error["details"]


@pytest.mark.parametrize(
    "source",
    [
        "{{ ''.__class__ }}",
        "{{ ''.__class__.__mro__[1].__subclasses__() }}",
        "{{ order.__class__.__init__.__globals__ }}",
        "{{ name.upper() }}",
        "{{ name.format(name) }}",
        "{{ order.items() }}",
        "{{ (1).__class__ }}",
        "{{ order['__class__'] }}",
        "{{ [].__class__.__base__ }}",
        "{{ x|map(attribute='__class__')|list }}",
    ],
)
def test_python_attributes_are_not_reachable(alice, alice_templates, source):
    variables = {"name": "ada", "order": {"id": 1}, "x": [1]}
    details = refused(attempt(alice, alice_templates, source, variables)[0])
    # Refused as unavailable or missing; nothing of Python's own is shown.
    assert list(details) in (["html"], ["variables.order.items"], ["variables.order.__class__"])
    assert "<class" not in str(details) and "<function" not in str(details)


@pytest.mark.parametrize(
    "name", ["self", "config", "range", "lipsum", "dict", "cycler", "joiner", "namespace"]
)
def test_the_engines_global_names_are_missing_variables_like_any_other(
    alice, alice_templates, name
):
    details = refused(attempt(alice, alice_templates, f"{{{{ {name} }}}}")[0])
    assert list(details) == [f"variables.{name}"]


def test_self_and_config_attribute_chains_are_missing_variables(alice, alice_templates):
    for source in (
        "{{ self.__init__.__globals__ }}",
        "{{ config.items() }}",
        "{{ self._TemplateReference__context }}",
    ):
        details = refused(attempt(alice, alice_templates, source)[0])
        assert list(details) in (["variables.self"], ["variables.config"], ["html"])


def test_a_variable_named_self_is_an_ordinary_variable(alice, alice_templates):
    response, _ = attempt(alice, alice_templates, "{{ self }}", {"self": "me"})
    assert response.json()["data"]["html"] == "me"


def test_range_of_a_billion_is_refused_quickly(alice, alice_templates):
    response, elapsed = attempt(alice, alice_templates, "{% for i in range(10**9) %}x{% endfor %}")
    assert list(refused(response)) == ["variables.range"]
    assert elapsed < 2


def test_string_multiplication_beyond_the_output_limit_is_refused_before_it_is_made(
    alice, alice_templates
):
    for source in ("{{ 'a' * 10**9 }}", "{{ 10**9 * 'a' }}", "{{ ['a'] * 10**9 }}"):
        response, elapsed = attempt(alice, alice_templates, source)
        assert list(refused(response)) == ["html"]
        assert elapsed < 2


def test_huge_numbers_are_refused(alice, alice_templates):
    response, _ = attempt(alice, alice_templates, "{{ 10 ** 1000000 }}")
    assert list(refused(response)) == ["html"]


def test_percent_formatting_is_not_available(alice, alice_templates):
    response, _ = attempt(alice, alice_templates, "{{ '%0999999999d' % 1 }}")
    assert list(refused(response)) == ["html"]


def test_nested_loops_over_big_data_stop(alice, alice_templates):
    items = list(range(3000))
    source = "{% for a in xs %}{% for b in xs %}{% for c in xs %}{{ c }}{% endfor %}{% endfor %}{% endfor %}"
    response, elapsed = attempt(alice, alice_templates, source, {"xs": items})
    assert list(refused(response)) == ["html"]
    assert elapsed < 3


def test_loops_inside_a_macro_stop_too(alice, alice_templates):
    source = (
        "{% macro m() %}{% for a in xs %}{% for b in xs %}{{ a }}{% endfor %}{% endfor %}"
        "{% endmacro %}{{ m() }}"
    )
    response, elapsed = attempt(alice, alice_templates, source, {"xs": list(range(5000))})
    assert "html" in refused(response)
    assert elapsed < 3


def test_recursion_through_macros_is_stopped(alice, alice_templates):
    for source in (
        "{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}",
        # A binary tree of calls: 2**40 calls if nothing stopped it.
        "{% macro f(n) %}{% if n < 40 %}{{ f(n + 1) }}{{ f(n + 1) }}{% endif %}{% endmacro %}"
        "{{ f(0) }}",
        "{% for x in xs recursive %}{{ loop(xs) }}{% endfor %}",
    ):
        response, elapsed = attempt(alice, alice_templates, source, {"xs": [1, 2]})
        assert list(refused(response)) == ["html"]
        assert elapsed < 3


def test_doubling_a_string_through_macro_arguments_is_refused(alice, alice_templates):
    source = (
        "{% macro f(s, n) %}{% if n %}{{ f(s ~ s, n - 1) }}{% else %}{{ s|length }}{% endif %}"
        "{% endmacro %}{{ f('x', 40) }}"
    )
    response, _ = attempt(alice, alice_templates, source)
    assert list(refused(response)) == ["html"]


def test_shared_references_cannot_blow_up_when_printed_or_joined(alice, alice_templates):
    prefix = "{% set s = 'x' * 1000000 %}{% set l = [s, s, s, s, s, s, s, s, s, s] %}"
    for tail in ("{{ l }}", "{{ l|join }}", "{{ l|tojson }}", "{{ s ~ s }}", "{{ [l, l]|string }}"):
        response, _ = attempt(alice, alice_templates, prefix + tail)
        assert list(refused(response)) == ["html"]


def test_replace_cannot_multiply_a_string(alice, alice_templates):
    source = "{{ ('ab' * 500000)|replace('', 'xyz') }}"
    response, _ = attempt(alice, alice_templates, source)
    assert list(refused(response)) == ["html"]


def test_output_over_one_mib_is_refused_while_streaming(alice, alice_templates):
    # 200 x 10,000 characters of plain loop output: 2 MB, each piece small.
    source = "{% for a in xs %}{{ chunk }}{% endfor %}"
    variables = {"xs": list(range(200)), "chunk": "y" * 10_000}
    response, _ = attempt(alice, alice_templates, source, variables)
    assert list(refused(response)) == ["html"]
    assert "1048576" in response.json()["error"]["message"]


def test_output_just_under_the_limit_is_fine(alice, alice_templates):
    source = "{% for a in xs %}{{ chunk }}{% endfor %}"
    variables = {"xs": list(range(100)), "chunk": "y" * (MAX_OUTPUT_BYTES // 100)}
    response, _ = attempt(alice, alice_templates, source, variables)
    assert response.status_code == 200
    assert len(response.json()["data"]["html"]) == MAX_OUTPUT_BYTES // 100 * 100


def test_errors_of_the_templates_own_expressions_are_validation_errors(alice, alice_templates):
    for source in ("{{ 1 / 0 }}", "{{ 'a' + 1 }}", "{{ x|int + 'a' }}"):
        response, _ = attempt(alice, alice_templates, source, {"x": "1"})
        assert list(refused(response)) == ["html"]


def test_filters_with_huge_number_arguments_are_refused(alice, alice_templates):
    for source in (
        "{{ [1]|batch(1000000000, 'x')|list }}",
        "{{ xs|tojson(indent=1000000) }}",
        "{{ xs|tojson(10000) }}",
        "{{ 'a'|truncate(1000000000) }}",
    ):
        response, elapsed = attempt(alice, alice_templates, source, {"xs": [[1, [2]]]})
        assert list(refused(response)) == ["html"], source
        assert elapsed < 2


def test_ordinary_filter_arguments_still_work(alice, alice_templates):
    source = "{{ xs|batch(2, 0)|list }} {{ xs|tojson(indent=2)|length > 0 }} {{ s|truncate(5) }}"
    response, _ = attempt(alice, alice_templates, source, {"xs": [1, 2, 3], "s": "abcdefghij"})
    assert response.json()["data"]["html"].startswith("[[1, 2], [3, 0]] True ")
