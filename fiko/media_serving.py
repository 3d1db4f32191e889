"""``/uploads/``: chat uploads and platform media, served so that no browser ever runs them.

Every answer carries ``Content-Security-Policy: sandbox`` (a document opened from here has a
unique origin and no script) and ``X-Content-Type-Options: nosniff``. The Content-Type comes
from our own table (fiko.media_content.RENDERED), never from the system's MIME guesses:
image, audio and video types the inbox renders are served inline as exactly that type; anything
else — PDFs, documents, inert ``.txt``/``.bin`` platform files, and any ``.html``/``.svg`` a
store might hold from before these checks — is ``application/octet-stream`` with
``Content-Disposition: attachment``. No ``Content-Encoding`` is ever sent (a stored ``.gz`` is a
download, not a page the browser unpacks).

A proxy serving MEDIA_ROOT itself must send the same headers (docs/deployment.md).
"""
from pathlib import Path

from django.conf import settings
from django.core.exceptions import SuspiciousFileOperation
from django.http import FileResponse, Http404, HttpResponseNotModified
from django.utils._os import safe_join
from django.utils.http import content_disposition_header, http_date
from django.views.decorators.http import require_safe
from django.views.static import was_modified_since

from fiko.media_content import RENDERED

SECURITY_HEADERS = {
    "Content-Security-Policy": "sandbox",
    "X-Content-Type-Options": "nosniff",
}
DOWNLOAD_TYPE = "application/octet-stream"


def media_type_for(name: str) -> tuple[str, bool]:
    """(Content-Type, inline?) for a stored file name."""
    extension = name.rpartition(".")[2].lower() if "." in name else ""
    if extension in RENDERED:
        return RENDERED[extension], True
    return DOWNLOAD_TYPE, False


def _file_for(path: str) -> Path:
    """The regular file under MEDIA_ROOT that ``path`` names; Http404 for anything else
    (escapes, directories, hidden and temporary files, NULs)."""
    if not path or any(part.startswith(".") or not part for part in path.split("/")):
        raise Http404("Not found")
    try:
        full = Path(safe_join(settings.MEDIA_ROOT, path))  # MEDIA_ROOT read per request (tests move it)
        if full.is_file():
            return full
    except (SuspiciousFileOperation, ValueError, OSError):
        pass
    raise Http404("Not found")


def _secure(response, name: str, inline: bool):
    for header, value in SECURITY_HEADERS.items():
        response[header] = value
    if not inline and "Content-Disposition" not in response:
        response["Content-Disposition"] = content_disposition_header(True, name)
    return response


@require_safe
def media_serve(request, path):
    full = _file_for(path)
    content_type, inline = media_type_for(full.name)
    stat = full.stat()
    if not was_modified_since(request.META.get("HTTP_IF_MODIFIED_SINCE"), stat.st_mtime):
        return _secure(HttpResponseNotModified(), full.name, inline)
    response = FileResponse(full.open("rb"), content_type=content_type, as_attachment=not inline,
                            filename=full.name)
    response["Last-Modified"] = http_date(stat.st_mtime)
    return _secure(response, full.name, inline)
