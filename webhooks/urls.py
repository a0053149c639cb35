from django.urls import re_path

from webhooks.views import WebhookViewSet

# No trailing slash, like the mail paths; one is tolerated (the twin has no schema entry).
_collection = {"get": "list_endpoints", "post": "create"}
_item = {"get": "retrieve", "patch": "partial_update", "delete": "destroy"}

urlpatterns = [
    re_path(r"^webhooks$", WebhookViewSet.as_view(_collection), name="webhooks"),
    re_path(r"^webhooks/$", WebhookViewSet.as_view(_collection, schema=None)),
    re_path(
        r"^webhooks/(?P<endpoint_id>[0-9]+)$",
        WebhookViewSet.as_view(_item),
        name="webhooks-endpoint",
    ),
    re_path(r"^webhooks/(?P<endpoint_id>[0-9]+)/$", WebhookViewSet.as_view(_item, schema=None)),
    re_path(
        r"^webhooks/(?P<endpoint_id>[0-9]+)/rotate-secret$",
        WebhookViewSet.as_view({"post": "rotate_secret"}),
        name="webhooks-rotate-secret",
    ),
    re_path(
        r"^webhooks/(?P<endpoint_id>[0-9]+)/test$",
        WebhookViewSet.as_view({"post": "test"}),
        name="webhooks-test",
    ),
]
