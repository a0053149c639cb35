from django.urls import re_path

from mail.views import MailViewSet

# The seed's paths have no trailing slash; one is tolerated rather than redirected. The
# tolerant twins carry ``schema=None`` so the OpenAPI schema names each path once, as the
# seed writes it (``/api/v1/mail/send``, ``/api/v1/mail/status/{message_id}``). The twin of
# the status route comes first: "abc/" is the id "abc", as it always was.
urlpatterns = [
    re_path(r"^send$", MailViewSet.as_view({"post": "send"}), name="mail-send"),
    re_path(r"^send/$", MailViewSet.as_view({"post": "send"}, schema=None)),
    re_path(r"^send-batch$", MailViewSet.as_view({"post": "send_batch"}), name="mail-send-batch"),
    re_path(r"^send-batch/$", MailViewSet.as_view({"post": "send_batch"}, schema=None)),
    re_path(r"^cancel/(?P<message_id>.+?)/$", MailViewSet.as_view({"post": "cancel"}, schema=None)),
    re_path(
        r"^cancel/(?P<message_id>.+)$",
        MailViewSet.as_view({"post": "cancel"}),
        name="mail-cancel",
    ),
    re_path(r"^status/(?P<message_id>.+?)/$", MailViewSet.as_view({"get": "status"}, schema=None)),
    re_path(
        r"^status/(?P<message_id>.+)$",
        MailViewSet.as_view({"get": "status"}),
        name="mail-status",
    ),
]
