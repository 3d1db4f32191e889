from django.conf import settings
from django.contrib import admin
from django.urls import include, path, re_path
from django.views.static import serve
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView


def media_serve(request, path):
    """MEDIA_ROOT read per request, not frozen at import (tests and settings overrides move it)."""
    return serve(request, path, document_root=settings.MEDIA_ROOT)


urlpatterns = [
    path("admin/", admin.site.urls),
    path("", include("fiko.auth_urls")),
    path("api/", include("customers.urls")),
    path("api/", include("conversations.urls")),
    path("api/v1/chat/", include("chat.urls")),
    path("api/", include("integrations.api_urls")),
    path("integrations/", include("integrations.urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("docs", SpectacularSwaggerView.as_view(url_name="schema"), name="docs"),
    # Uploads and fetched platform media are served by us (behind a proxy in production,
    # which may serve MEDIA_ROOT itself): platform file URLs never reach a browser.
    re_path(r"^uploads/(?P<path>.*)$", media_serve),
]
