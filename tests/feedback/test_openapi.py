"""The provider event URL is in the OpenAPI schema, and real answers match what it documents."""

import httpx
import jsonschema
import pytest
import yaml

from tests.feedback.conftest import post, sent_message
from tests.feedback.test_mailgun_webhook import mailgun_provider, mg_event  # noqa: F401

pytestmark = pytest.mark.django_db(transaction=True)


def _answer_schema(schema: dict, status: str) -> dict:
    documented = schema["paths"]["/feedback/{token}"]["post"]["responses"][status]
    answer = documented["content"]["application/json"]["schema"]
    # Resolve the envelope's references against the served document's components.
    return {**answer, "components": schema["components"]}


def test_the_served_schema_documents_the_event_url_and_its_answers(
    live_server,
    feedback_url,
    mailgun_provider,  # noqa: F811
):
    served = httpx.get(
        f"{live_server.url}/api/v1/schema/",
        timeout=10,
    )
    schema = yaml.safe_load(served.text)  # the schema view answers YAML
    operation = schema["paths"]["/feedback/{token}"]["post"]
    assert operation["security"] == []
    assert {"200", "400", "404", "429", "503"} <= set(operation["responses"])

    message = sent_message(mailgun_provider)
    recorded = post(feedback_url(mailgun_provider), mg_event(message, "delivered"))
    unknown = post(f"{live_server.url}/feedback/not-a-token", {"x": 1})
    garbage = post(feedback_url(mailgun_provider), b"{not json")

    assert recorded.status_code == 200
    jsonschema.validate(recorded.json(), _answer_schema(schema, "200"))
    assert unknown.status_code == 404
    jsonschema.validate(unknown.json(), _answer_schema(schema, "404"))
    assert garbage.status_code == 400
    jsonschema.validate(garbage.json(), _answer_schema(schema, "400"))
