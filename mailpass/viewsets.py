"""The base of the API's ViewSets (its own module: ``mailpass.api`` is imported by DRF's
settings, and ``rest_framework.viewsets`` imports those settings)."""

from typing import Any

from rest_framework import exceptions, viewsets


class ApiViewSet(viewsets.ViewSet):
    """The API's ViewSet: a method the route does not take is 405, whoever asks.

    DRF authenticates and checks permissions before it looks for the method's handler, so
    ``TRACE`` with a key lacking the endpoint's permission was a 403, and without a key a 401;
    the schema fuzzing expects 405 for any method a path does not declare.
    """

    def initial(self, request, *args: Any, **kwargs: Any) -> None:
        method = request.method.lower()
        if method not in self.http_method_names or not hasattr(self, method):
            raise exceptions.MethodNotAllowed(request.method)
        super().initial(request, *args, **kwargs)
