from django.urls import re_path

from templating.views import TemplateViewSet

# As the mail paths: no trailing slash; one is tolerated (its twin is left out of the schema).
collection = {"get": "list_templates", "post": "create"}
member = {"get": "retrieve", "put": "update", "delete": "destroy"}
render = {"post": "render_preview"}
NAME = r"(?P<name>[^/]+)"

urlpatterns = [
    re_path(r"^templates$", TemplateViewSet.as_view(collection), name="templates"),
    re_path(r"^templates/$", TemplateViewSet.as_view(collection, schema=None)),
    re_path(rf"^templates/{NAME}/render$", TemplateViewSet.as_view(render), name="template-render"),
    re_path(rf"^templates/{NAME}/render/$", TemplateViewSet.as_view(render, schema=None)),
    re_path(rf"^templates/{NAME}$", TemplateViewSet.as_view(member), name="template"),
    re_path(rf"^templates/{NAME}/$", TemplateViewSet.as_view(member, schema=None)),
]
