"""Platform webhooks, mounted at /integrations/ (fiko/urls.py)."""
from django.urls import path

from .instagram.views import instagram_webhook
from .telegram.views import telegram_webhook

urlpatterns = [
    path("telegram/<int:channel_id>/webhook/", telegram_webhook, name="telegram-webhook"),
    path("instagram/<int:channel_id>/webhook/", instagram_webhook, name="instagram-webhook"),
]
