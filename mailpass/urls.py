from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from mailpass.health import healthz

urlpatterns = [
    path("api/v1/mail/", include("mail.urls")),
    path("api/v1/", include("templating.urls")),
    path("api/v1/", include("webhooks.urls")),
    path("api/v1/", include("suppressions.urls")),
    path("t/", include("mail.tracking_urls")),
    path("feedback/", include("feedback.urls")),
    path(
        "api/v1/schema/",
        SpectacularAPIView.as_view(authentication_classes=[], permission_classes=[]),
        name="schema",
    ),
    path(
        "api/docs/",
        SpectacularSwaggerView.as_view(
            url_name="schema", authentication_classes=[], permission_classes=[]
        ),
        name="api-docs",
    ),
    path("healthz", healthz, name="healthz"),
    path("admin/", admin.site.urls),
]

handler400 = "mailpass.api.handler400"
handler403 = "mailpass.api.handler403"
handler404 = "mailpass.api.handler404"
handler500 = "mailpass.api.handler500"
