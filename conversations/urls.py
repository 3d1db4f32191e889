"""/api/conversations/ and /api/conversations/{id}/messages/ (mounted under /api/)."""
from django.urls import path
from rest_framework.routers import SimpleRouter

from .api import ConversationMessagesView, ConversationViewSet

router = SimpleRouter()
router.register("conversations", ConversationViewSet, basename="conversation")

urlpatterns = [
    # Any segment: a malformed id is a JSON 404 from the view, like a missing conversation.
    path("conversations/<str:conversation_id>/messages/", ConversationMessagesView.as_view(),
         name="conversation-messages"),
    *router.urls,
]
