from django.urls import path

from mail.tracking_views import click_redirect, open_pixel

# Included at /t/ (mailpass/urls.py); the links are built by mail.tracking.
urlpatterns = [
    path("o/<str:token>.gif", open_pixel, name="tracking-open"),
    path("c/<str:token>", click_redirect, name="tracking-click"),
]
