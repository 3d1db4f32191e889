"""Seed 004's REST API, mounted at /api/v1/chat/ (no trailing slashes, as the seed writes them)."""
from django.urls import path

from . import api

urlpatterns = [
    path("chats", api.StaffChatsView.as_view(), name="chat-chats"),
    path("chats/customer", api.CustomerChatsView.as_view(), name="chat-chats-customer"),
    # Any segment: a malformed id is a JSON 404 from the view, like a missing chat.
    path("chats/<str:chat_id>/messages", api.ChatMessagesView.as_view(), name="chat-messages"),
    path("upload", api.ChatUploadView.as_view(), name="chat-upload"),
]
