"""The landing page and the docs pages. Plain server-rendered HTML; nothing is loaded from
another host (styles from /static/, no scripts but the docs UIs' own, served here too)."""
from django.conf import settings
from django.http import Http404
from django.shortcuts import render
from django.utils.safestring import mark_safe
from django.views.decorators.http import require_safe
from drf_spectacular.views import SpectacularRedocView, SpectacularSwaggerView
from rest_framework.renderers import JSONRenderer

from pages.protocol_doc import protocol_html


@require_safe
def landing(request):
    context = {"debug": settings.DEBUG}
    if settings.DEBUG:
        from workspaces.demo import demo_logins

        context["demo_logins"] = demo_logins()
    return render(request, "pages/landing.html", context)


@require_safe
def protocol(request):
    try:
        body = protocol_html()
    except FileNotFoundError:  # a deployment without docs/
        raise Http404("docs/protocol.md is not deployed with this server")
    # Safe: markdown-it renders with raw HTML off, so the file's text is escaped (protocol_doc.py).
    return render(request, "pages/protocol.html", {"body": mark_safe(body)})


class SwaggerView(SpectacularSwaggerView):
    """Swagger UI from drf-spectacular-sidecar; its errors (405 for a POST) can be rendered as
    JSON too, not a 406."""

    renderer_classes = [*SpectacularSwaggerView.renderer_classes, JSONRenderer]
    template_name = "pages/swagger_ui.html"


class RedocView(SpectacularRedocView):
    """ReDoc from drf-spectacular-sidecar, without the stock template's web fonts."""

    renderer_classes = [*SpectacularRedocView.renderer_classes, JSONRenderer]
    template_name = "pages/redoc.html"
