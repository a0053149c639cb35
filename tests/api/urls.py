"""The project's URLs plus probe views under /api/ that exercise the envelope machinery.

The mail endpoints belong to other issues; these probes read the body and crash on purpose,
so the parser, the exception handler and the middleware are tested on their own.
"""

from django.urls import path
from rest_framework.response import Response
from rest_framework.views import APIView

from mailpass.api import success_body
from mailpass.urls import urlpatterns as project_urlpatterns


class EchoView(APIView):
    def post(self, request):
        return Response(success_body({"echo": request.data}))


class CrashView(APIView):
    def get(self, request):
        raise RuntimeError("a secret detail that must not leak")


def plain_crash(request):
    raise RuntimeError("a secret detail that must not leak")


urlpatterns = [
    path("api/v1/probe/echo", EchoView.as_view()),
    path("api/v1/probe/crash", CrashView.as_view()),
    path("api/v1/probe/plain-crash", plain_crash),
    *project_urlpatterns,
]

handler400 = "mailpass.api.handler400"
handler403 = "mailpass.api.handler403"
handler404 = "mailpass.api.handler404"
handler500 = "mailpass.api.handler500"
