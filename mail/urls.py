from django.urls import re_path

from mail.views import MailViewSet

# The seed's paths have no trailing slash; one is tolerated rather than redirected.
urlpatterns = [
    re_path(r"^send/?$", MailViewSet.as_view({"post": "send"}), name="mail-send"),
    re_path(r"^send-batch/?$", MailViewSet.as_view({"post": "send_batch"}), name="mail-send-batch"),
    re_path(
        r"^status/(?P<message_id>.+?)/?$",
        MailViewSet.as_view({"get": "status"}),
        name="mail-status",
    ),
]
