"""Platform webhooks, mounted at /integrations/ (fiko/urls.py): one route for every registered
platform (integrations/platforms.py); an unknown platform is a 404 "no such channel"."""
from django.urls import path

from .webhooks import platform_webhook

urlpatterns = [
    path("<slug:platform>/<int:channel_id>/webhook/", platform_webhook, name="platform-webhook"),
]
