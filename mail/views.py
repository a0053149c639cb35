"""The Mail Send API (API.md sections 3 to 5): one ViewSet, one service call per action."""

from rest_framework import viewsets
from rest_framework.request import Request
from rest_framework.response import Response

from mailpass.api import error_body


def _not_implemented() -> Response:
    return Response(error_body("NOT_IMPLEMENTED", "This endpoint is not available yet."), 501)


class MailViewSet(viewsets.ViewSet):
    """POST /send, POST /send-batch, GET /status/{message_id}."""

    def send(self, request: Request) -> Response:
        return _not_implemented()

    def send_batch(self, request: Request) -> Response:
        return _not_implemented()

    def status(self, request: Request, message_id: str) -> Response:
        return _not_implemented()
