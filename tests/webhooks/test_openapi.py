"""The webhook endpoints are in the OpenAPI schema, each answer documented."""

from drf_spectacular.generators import SchemaGenerator


def test_the_schema_has_the_webhook_paths_and_their_methods(db):
    paths = SchemaGenerator().get_schema(request=None, public=True)["paths"]

    assert set(paths["/api/v1/webhooks"]) == {"get", "post"}
    assert set(paths["/api/v1/webhooks/{endpoint_id}"]) == {"get", "patch", "delete"}
    assert set(paths["/api/v1/webhooks/{endpoint_id}/rotate-secret"]) == {"post"}
    assert set(paths["/api/v1/webhooks/{endpoint_id}/test"]) == {"post"}
    create = paths["/api/v1/webhooks"]["post"]
    assert {"201", "400", "401", "403"} <= set(create["responses"])
    assert "404" in paths["/api/v1/webhooks/{endpoint_id}"]["get"]["responses"]
