"""Chat uploads (seed 004 ``POST /api/v1/chat/upload``): size-capped reading, content checks,
image checks and thumbnails, safe names under ``MEDIA_ROOT/chat/`` (served at ``/uploads/`` by
fiko.media_serving).

The content check is fiko.media_content, shared with platform media: the type is read from the
bytes, never from the client's content type or file name, and only ``ACCEPTED`` types are taken
(never HTML, SVG or script). Images are checked from their header (at most
UPLOAD_MAX_IMAGE_PIXELS) before their pixels are decoded, and the thumbnail decode takes one of
the process's bounded decoding slots. Nothing is written under ``MEDIA_ROOT`` until a file has
passed every check. Size: a declared ``Content-Length`` over the limit is refused before the
body is read (here, and for ASGI servers in fiko.body_limit before Django buffers it), and
``SizeLimitedUploadHandler`` stops reading once the bytes received pass the limit.
"""
import re
import secrets
import tempfile
import time
import unicodedata
from pathlib import Path

from django.conf import settings
from django.core.files.uploadedfile import UploadedFile
from django.core.files.uploadhandler import FileUploadHandler, StopUpload

from fiko import media_content
from fiko.errors import ErrorCode, InvalidInput
from fiko.media_content import ACCEPTED, MediaRejected

SUBDIR = "chat"
MULTIPART_OVERHEAD = 64 * 1024  # boundaries and part headers around the file

UploadRejected = MediaRejected  # the name the upload errors have always had


def too_large() -> UploadRejected:
    limit = settings.UPLOAD_MAX_BYTES
    return UploadRejected(ErrorCode.TOO_LARGE, f"File too large: the limit is {limit} bytes ({limit / 1048576:g} MiB)",
                          limit=limit)


def refuse_declared_oversize(meta) -> None:
    """Refuse before reading the body when the declared length already passes the limit."""
    try:
        declared = int(meta.get("CONTENT_LENGTH") or 0)
    except ValueError:
        raise InvalidInput("Invalid Content-Length") from None
    if declared > settings.UPLOAD_MAX_BYTES + MULTIPART_OVERHEAD:
        raise too_large()


class SizeLimitedUploadHandler(FileUploadHandler):
    """Receives file parts into a spooled temporary file (memory first, disk past
    FILE_UPLOAD_MAX_MEMORY_SIZE) and stops the upload as soon as the bytes received pass
    ``limit``: at most ``limit`` bytes are ever written, whatever the client declared."""

    def __init__(self, request=None, *, limit: int):
        super().__init__(request)
        self.limit = limit
        self.received = 0  # bytes of file parts seen
        self.written = 0  # bytes kept (never more than limit)
        self.exceeded = False
        self.file = None

    def new_file(self, *args, **kwargs):
        super().new_file(*args, **kwargs)
        self.file = tempfile.SpooledTemporaryFile(max_size=settings.FILE_UPLOAD_MAX_MEMORY_SIZE)

    def receive_data_chunk(self, raw_data, start):
        self.received += len(raw_data)
        if self.received > self.limit:
            self.exceeded = True
            self.file.close()
            raise StopUpload(connection_reset=True)
        self.file.write(raw_data)
        self.written += len(raw_data)
        return None  # consumed here; no later handler sees the bytes

    def file_complete(self, file_size):
        self.file.seek(0)
        return UploadedFile(file=self.file, name=self.file_name, content_type=self.content_type, size=file_size,
                            charset=self.charset, content_type_extra=self.content_type_extra)


# --- names --------------------------------------------------------------------------------
def safe_stem(name: str) -> str:
    """The client's file name without directories or extension, in a safe charset."""
    name = (name or "").replace("\\", "/").rsplit("/", 1)[-1]
    stem = name.rsplit(".", 1)[0] if "." in name else name
    stem = unicodedata.normalize("NFKD", stem).encode("ascii", "ignore").decode("ascii")
    stem = re.sub(r"[^A-Za-z0-9_-]+", "_", stem).strip("_-")[:80]
    return stem or "file"


def _unique_prefix() -> str:
    return f"{time.time():.3f}_{secrets.token_hex(4)}"


def _chat_dir() -> Path:
    directory = Path(settings.MEDIA_ROOT) / SUBDIR
    directory.mkdir(parents=True, exist_ok=True)
    return directory


def _url(name: str) -> str:
    return f"{settings.MEDIA_URL.rstrip('/')}/{SUBDIR}/{name}"


def upload_store(*, upload, client_content_type: str = "") -> dict:
    """Check ``upload`` and store it; the result of seed 004's upload endpoint."""
    if upload is None:
        raise InvalidInput("Send the file as the multipart/form-data field 'file'", field="file")
    if upload.size is not None and upload.size > settings.UPLOAD_MAX_BYTES:
        raise too_large()
    if not upload.size:
        raise InvalidInput("The file is empty", field="file")
    mime = media_content.accepted_mime(upload, client_content_type)
    kind = ACCEPTED[mime]
    thumbnail = None
    if kind.message_type == "image":
        media_content.image_check(upload, mime)
        thumbnail = media_content.thumbnail(upload, mime)
    stem = safe_stem(upload.name)
    stored = f"{_unique_prefix()}_{stem}.{kind.extension}"
    directory = _chat_dir()
    upload.seek(0)
    with open(directory / stored, "xb") as out:
        for chunk in upload.chunks():
            out.write(chunk)
    thumbnail_url = None
    if thumbnail is not None:
        data, extension = thumbnail
        thumb_name = f"{stored.rsplit('.', 1)[0]}_thumb.{extension}"
        (directory / thumb_name).write_bytes(data)
        thumbnail_url = _url(thumb_name)
    return {
        "file_url": _url(stored), "file_name": f"{stem}.{kind.extension}", "file_type": mime,
        "file_size": upload.size, "thumbnail_url": thumbnail_url, "message_type": kind.message_type,
    }


# --- thumbnails of media urls in messages (the URL rule: fiko.inputs.parse_media_url) ---------------------------------------------------------------------
_STORED_NAME = re.compile(r"^[0-9]+\.[0-9]{3}_[0-9a-f]{8}_[A-Za-z0-9_-]+\.[a-z0-9]+$")


def thumbnail_url_for(media_url: str) -> str:
    """The thumbnail stored with one of our chat uploads, or ""."""
    prefix = _url("")
    if not media_url.startswith(prefix):
        return ""
    name = media_url[len(prefix):]
    if not _STORED_NAME.match(name):
        return ""
    stem = name.rsplit(".", 1)[0]
    for extension in ("jpg", "png"):
        thumb = f"{stem}_thumb.{extension}"
        if (Path(settings.MEDIA_ROOT) / SUBDIR / thumb).is_file():
            return _url(thumb)
    return ""
