"""Schema fuzzing of the suppression endpoints with a key that holds `suppressions`.

The same checks as the mail API's fuzzing (``tests/api/test_schema_fuzz.py``): never a 5xx,
answers as the schema documents them, every error in the envelope with its code's status.
Alice's list holds entries (one of them the schema's own example) so the entry endpoints
also answer 200, not only 404. Run alone: ``pytest -m fuzz``.
"""

import pytest
import schemathesis
from django.core.wsgi import get_wsgi_application
from hypothesis import HealthCheck, settings

from suppressions.services import suppression_add
from tests.api.test_schema_fuzz import (  # noqa: F401  (answers_in_the_envelope: a check)
    MAX_EXAMPLES,
    answers_in_the_envelope,
    call_with_key,
)
from tests.factories import api_key_for

pytestmark = [pytest.mark.fuzz, pytest.mark.django_db(transaction=True)]


@pytest.fixture(params=["test", "live"])
def suppressions_key(request, alice, bob) -> str:
    for n in range(3):
        suppression_add(account=alice, email=f"user{n}@example.com", reason="manual")
    suppression_add(account=alice, email="user@example.com", reason="hard_bounce")
    suppression_add(account=bob, email="bob@example.com", reason="complaint")
    return api_key_for(alice, permissions=["suppressions"], is_test=request.param == "test")


@pytest.fixture
def suppressions_schema(suppressions_key):
    return schemathesis.openapi.from_wsgi("/api/v1/schema/", get_wsgi_application()).include(
        path_regex="^/api/v1/suppressions"
    )


schema = schemathesis.pytest.from_fixture("suppressions_schema")


@schema.parametrize()
@settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.filter_too_much,
        HealthCheck.data_too_large,
        HealthCheck.function_scoped_fixture,
    ],
)
def test_the_suppressions_api_keeps_its_schema(case, suppressions_key):
    call_with_key(case, suppressions_key)
