"""REST for channels, mounted at /api/ (fiko/urls.py)."""
from django.urls import path

from .api import ChannelDetailView, ChannelListView

urlpatterns = [
    path("channels/", ChannelListView.as_view(), name="channel-list"),
    path("channels/<int:channel_id>/", ChannelDetailView.as_view(), name="channel-detail"),
]
