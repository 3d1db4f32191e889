"""The inbox console at /inbox/: one HTML shell; everything else is static ES modules that talk
to the public protocol (REST + sockets, docs/protocol.md), like any frontend would."""
from django.views.decorators.http import require_GET
from django.shortcuts import render


@require_GET
def inbox(request):
    return render(request, "console/index.html")
