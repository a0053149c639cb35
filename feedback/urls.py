from django.urls import path

from feedback.views import provider_events

urlpatterns = [
    path("<str:token>", provider_events, name="feedback-provider-events"),
]
