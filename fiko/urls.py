from django.contrib import admin
from django.urls import include, path, re_path
from drf_spectacular.views import SpectacularAPIView

from fiko.media_serving import media_serve

# No route, or an uncaught error: JSON like every other answer (fiko/error_views.py).
handler400 = "fiko.error_views.bad_request"
handler403 = "fiko.error_views.forbidden"
handler404 = "fiko.error_views.not_found"
handler500 = "fiko.error_views.server_error"


urlpatterns = [
    path("admin/", admin.site.urls),
    path("", include("fiko.auth_urls")),
    path("api/", include("customers.urls")),
    path("api/", include("conversations.urls")),
    path("api/v1/chat/", include("chat.urls")),
    path("api/", include("integrations.api_urls")),
    path("integrations/", include("integrations.urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("", include("pages.urls")),  # the landing page; /docs, /docs/redoc/, /docs/protocol/
    path("inbox/", include("console.urls")),
    # Uploads and fetched platform media are served by us (behind a proxy in production,
    # which may serve MEDIA_ROOT itself with the same headers): platform file URLs never reach
    # a browser, and nothing under /uploads/ can run script (fiko/media_serving.py).
    re_path(r"^uploads/(?P<path>.*)$", media_serve),
]
