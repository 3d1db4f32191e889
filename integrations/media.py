"""Platform files kept on our side: written under ``MEDIA_ROOT/media/<channel_id>/`` and served
from ``/uploads/`` (fiko.media_serving), so a browser never sees a platform URL or a bot token.

What a file is stored as is decided by its content, with the same check as chat uploads
(fiko.media_content): HTML, SVG, XML or script never gets an extension a browser renders (it is
kept as an inert ``.txt`` download, so staff still see that the customer sent a file), and
images over the pixel limit or that do not verify are kept as ``.bin`` downloads.
"""
import os
import re
import tempfile
from pathlib import Path

from django.conf import settings

from fiko.media_content import platform_file_name
from fiko.media_serving import media_type_for

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def _clean(part: str) -> str:
    cleaned = _UNSAFE.sub("_", part).strip("._")[:120]
    return cleaned or "file"


def media_store(*, channel_id: int, name: str, data: bytes, folder: str = "") -> str:
    """Write ``data`` (atomically: a redelivered update rewrites the same file) and return the
    public URL. ``name`` and ``folder`` are sanitized, and the extension is the one the content
    allows (``platform_file_name``); nothing can escape MEDIA_ROOT."""
    name = platform_file_name(_clean(name), data)
    parts = ["media", str(int(channel_id))] + ([_clean(folder)] if folder else []) + [name]
    directory = Path(settings.MEDIA_ROOT).joinpath(*parts[:-1])
    directory.mkdir(parents=True, exist_ok=True)
    handle, temp_path = tempfile.mkstemp(dir=directory, prefix=".part-")
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(data)
        os.replace(temp_path, directory / parts[-1])
    except BaseException:
        Path(temp_path).unlink(missing_ok=True)
        raise
    return media_url_for("/".join(parts))


_KIND_OF_TYPE = {"image": "image", "voice": "audio", "video": "video"}


def stored_message_type(url: str, claimed: str) -> str:
    """The message type the stored file really is: ``claimed`` (image, voice, video) when the
    file is served inline as that kind, else ``file`` (e.g. an "image" that was SVG and is kept
    as an inert download), so the inbox never shows a broken image."""
    mime, inline = media_type_for(url.rsplit("/", 1)[-1])
    wanted = _KIND_OF_TYPE.get(claimed)
    if wanted is None or (inline and mime.startswith(f"{wanted}/")):
        return claimed
    return "file"


def media_url_for(relative_path: str) -> str:
    """Absolute URL of a file under MEDIA_ROOT (frontends may live on another origin)."""
    return f"{settings.PUBLIC_BASE_URL}{settings.MEDIA_URL}{relative_path}"


def media_local_path(url: str) -> Path | None:
    """The file under MEDIA_ROOT that one of our media URLs points to (absolute with
    PUBLIC_BASE_URL, or a bare ``/uploads/...`` path); None for other URLs or missing files."""
    prefixes = (f"{settings.PUBLIC_BASE_URL}{settings.MEDIA_URL}", settings.MEDIA_URL)
    for prefix in prefixes:
        if url.startswith(prefix):
            relative = url[len(prefix):].split("?")[0]
            root = Path(settings.MEDIA_ROOT).resolve()
            path = (root / relative).resolve()
            if root in path.parents and path.is_file():
                return path
            return None
    return None


def media_absolute_url(url: str) -> str:
    """An absolute URL the platform can fetch (our relative ``/uploads/...`` made absolute)."""
    if url.startswith("/"):
        return f"{settings.PUBLIC_BASE_URL}{url}"
    return url
