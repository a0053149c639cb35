"""Schema fuzzing: schemathesis drives every endpoint from the app's own schema.

The schema is the one the running app serves at /api/v1/schema/ (drf-spectacular), loaded
through the WSGI application in this process; requests go through the whole stack (middleware,
authentication, throttling, views, PostgreSQL). Every answer is checked: never a 5xx, status
code, headers and body as the schema documents them, schema-invalid requests refused with a
4xx, and every error is the envelope of API.md section 2 with the code its status allows.

Schema-valid requests are not required to succeed: the schema cannot say everything the API
checks (at most 50 recipients across to/cc/bcc, metadata at most 4 KiB, Django's own rules for
an email address), so ``positive_data_acceptance`` is left out.

Run alone: ``pytest -m fuzz``. The run is bounded (``MAX_EXAMPLES`` per operation and phase).
"""

import datetime
import json
import os

import pytest
import schemathesis
from django.core.wsgi import get_wsgi_application
from hypothesis import HealthCheck, settings
from schemathesis import GenerationMode
from schemathesis.specs.openapi.checks import positive_data_acceptance

from accounts.models import KNOWN_PERMISSIONS
from mail.models import EventType, MessageEvent, MessageStatus
from templating.models import Template
from tests.factories import MessageFactory, SmtpProviderFactory, api_key_for

pytestmark = [pytest.mark.fuzz, pytest.mark.django_db(transaction=True)]

# Bounded for the suite (about 20 s); MAILPASS_FUZZ_EXAMPLES=500 for a longer hunt.
MAX_EXAMPLES = int(os.environ.get("MAILPASS_FUZZ_EXAMPLES", "40"))
SEED_MESSAGE_ID = "<abc123@mailpass.im>"  # the status example of the seed page and the schema


def call_with_key(case, key: str) -> None:
    """Call and check ``case`` with ``key`` in place of the generated credentials.

    Except for a negative case whose Authorization header is gone: removing it is one of the
    mutations schemathesis makes, and putting our key back would turn the case into a valid
    request that schemathesis still counts as invalid. When the case's other mutation does
    not reach the server either (an undeclared query parameter whose value serializes to
    nothing), a 200 was reported as "schema-violating request accepted". Sent without a key,
    the case must be refused with 401, in the envelope.
    """
    negative = case.meta is not None and case.meta.generation.mode == GenerationMode.NEGATIVE
    keep_out = negative and "Authorization" not in (case.headers or {})
    case.call_and_validate(
        headers=None if keep_out else {"Authorization": f"Bearer {key}"},
        excluded_checks=[positive_data_acceptance],
    )


# API.md section 2: the HTTP status each error code is answered with.
ERROR_STATUS = {
    "VALIDATION_ERROR": 400,
    "UNAUTHORIZED": 401,
    "FORBIDDEN": 403,
    "NOT_FOUND": 404,
    "METHOD_NOT_ALLOWED": 405,
    "IDEMPOTENCY_CONFLICT": 409,
    "NOT_CANCELABLE": 409,
    "PAYLOAD_TOO_LARGE": 413,
    "UNSUPPORTED_MEDIA_TYPE": 415,
    "NO_SMTP_PROVIDER": 422,
    "RECIPIENT_SUPPRESSED": 422,
    "SEND_LIMIT_EXCEEDED": 429,
    "RATE_LIMITED": 429,
    "SEND_FAILED": 500,
    "INTERNAL_ERROR": 500,
    "SERVICE_UNAVAILABLE": 503,
}


def envelope_problems(status: int, body: object) -> list[str]:
    """What is wrong with an answer's envelope (API.md section 2); empty when it is right."""
    if not isinstance(body, dict):
        return [f"the body is not a JSON object: {body!r:.200}"]
    if status < 400:
        if set(body) != {"success", "data"} or body["success"] is not True:
            return [f"a {status} answer is not {{success: true, data}}: {body!r:.300}"]
        return []
    problems = []
    if set(body) != {"success", "error"} or body.get("success") is not False:
        problems.append("an error is not {success: false, error}")
    error = body.get("error")
    if not isinstance(error, dict) or set(error) != {"code", "message", "details"}:
        return [*problems, f"error is not {{code, message, details}}: {error!r:.300}"]
    if ERROR_STATUS.get(error["code"]) != status:
        problems.append(f"code {error['code']!r} is not answered with HTTP {status}")
    if not isinstance(error["message"], str) or not error["message"]:
        problems.append("error.message is not a non-empty string")
    if not isinstance(error["details"], dict):
        problems.append("error.details is not an object")
    return problems


@schemathesis.check
def answers_in_the_envelope(ctx, response, case) -> None:
    assert response.headers.get("content-type", [""])[0].startswith("application/json"), (
        f"not JSON: {response.headers.get('content-type')}"
    )
    problems = envelope_problems(response.status_code, json.loads(response.content or b"null"))
    assert not problems, "; ".join(problems)


def test_the_envelope_check_refuses_what_api_md_forbids():
    """The custom check itself: a few wrong answers it must catch."""
    assert envelope_problems(200, {"success": True, "data": {}}) == []
    assert (
        envelope_problems(
            404, {"success": False, "error": {"code": "NOT_FOUND", "message": "x", "details": {}}}
        )
        == []
    )
    assert envelope_problems(500, {"detail": "boom"})
    assert envelope_problems(
        404, {"success": False, "error": {"code": "NOT_FOUND", "message": "x", "details": []}}
    )
    assert envelope_problems(
        400, {"success": False, "error": {"code": "NOT_FOUND", "message": "x", "details": {}}}
    )
    assert envelope_problems(200, {"success": False, "data": {}})


@pytest.fixture(params=["test", "live"])
def fuzz_key(request, alice, smtp_server) -> str:
    """Alice's key (a test key sends nothing; a live one sends to the aiosmtpd test server),
    her default provider, and the seed page's message with an open event."""
    SmtpProviderFactory(account=alice, host=smtp_server.host, port=smtp_server.port)
    sent_at = datetime.datetime(2026, 1, 30, 12, 0, tzinfo=datetime.UTC)
    message = MessageFactory(
        account=alice,
        message_id=SEED_MESSAGE_ID,
        status=MessageStatus.SENT,
        sent_at=sent_at,
        tags=["order"],
        metadata={"order_id": "12345"},
    )
    MessageEvent.objects.create(
        message=message,
        event_type=EventType.OPEN,
        ip_address="192.168.1.1",
        user_agent="Mozilla/5.0...",
    )
    Template.objects.create(
        account=alice,
        name="order-confirmation",
        subject="Order {{ order.id }}",
        html="<p>{{ name }}</p>",
        text="{{ name }}",
    )
    # Every permission of API.md section 1, so every endpoint is driven past its 403.
    return api_key_for(alice, permissions=list(KNOWN_PERMISSIONS), is_test=request.param == "test")


@pytest.fixture
def mail_api_schema(fuzz_key):
    return schemathesis.openapi.from_wsgi("/api/v1/schema/", get_wsgi_application())


schema = schemathesis.pytest.from_fixture("mail_api_schema")


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
def test_the_mail_api_keeps_its_schema(case, fuzz_key):
    call_with_key(case, fuzz_key)
