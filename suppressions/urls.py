from django.urls import re_path

from suppressions.views import SuppressionViewSet

# "page", not "list": drf-spectacular would document a DRF list (a JSON array).
collection = {"get": "page", "post": "create"}
entry = {"get": "retrieve", "delete": "destroy"}

# No trailing slash, like the mail paths; a trailing one is tolerated (``schema=None`` keeps
# the OpenAPI schema to one path each). An address never ends with "/", so "x@y/" is "x@y".
urlpatterns = [
    re_path(r"^suppressions$", SuppressionViewSet.as_view(collection), name="suppressions"),
    re_path(r"^suppressions/$", SuppressionViewSet.as_view(collection, schema=None)),
    re_path(r"^suppressions/(?P<email>.+?)/$", SuppressionViewSet.as_view(entry, schema=None)),
    re_path(
        r"^suppressions/(?P<email>.+)$",
        SuppressionViewSet.as_view(entry),
        name="suppression",
    ),
]
