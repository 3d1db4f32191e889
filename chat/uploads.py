"""Chat uploads (seed 004 ``POST /api/v1/chat/upload``): size-capped reading, content sniffing,
image decoding and thumbnails, safe names under ``MEDIA_ROOT/chat/`` (served at ``/uploads/``).

The type is read from the bytes (``filetype``), never from the client's content type or file
name; images must decode with Pillow. Nothing is written under ``MEDIA_ROOT`` until a file
has passed every check. Size: a declared ``Content-Length`` over the limit is refused before
the body is read (here, and for ASGI servers in fiko.body_limit before Django buffers it),
and ``SizeLimitedUploadHandler`` stops reading once the bytes received pass the limit.
"""
import io
import re
import secrets
import tempfile
import time
import unicodedata
import warnings
from dataclasses import dataclass
from pathlib import Path

import filetype
from django.conf import settings
from django.core.files.uploadedfile import UploadedFile
from django.core.files.uploadhandler import FileUploadHandler, StopUpload
from PIL import Image, ImageOps

from fiko.errors import ErrorCode, FikoError, InvalidInput

SUBDIR = "chat"
MULTIPART_OVERHEAD = 64 * 1024  # boundaries and part headers around the file
THUMBNAIL_PX = 320
MAX_IMAGE_PIXELS = 40_000_000  # larger images are refused before decoding (decompression bombs)
SNIFF_BYTES = 8192


@dataclass(frozen=True)
class Kind:
    message_type: str  # image | voice | video | file
    extension: str


# MIME detected from the content -> what it is and the extension we store it under.
ACCEPTED = {
    "image/jpeg": Kind("image", "jpg"),
    "image/png": Kind("image", "png"),
    "image/apng": Kind("image", "png"),
    "image/gif": Kind("image", "gif"),
    "image/webp": Kind("image", "webp"),
    "audio/ogg": Kind("voice", "ogg"),
    "audio/mpeg": Kind("voice", "mp3"),
    "audio/mp4": Kind("voice", "m4a"),
    "audio/webm": Kind("voice", "webm"),
    "video/mp4": Kind("video", "mp4"),
    "video/webm": Kind("video", "webm"),
    "video/quicktime": Kind("video", "mov"),
    "application/pdf": Kind("file", "pdf"),
}
PILLOW_FORMATS = {"image/jpeg": "JPEG", "image/png": "PNG", "image/apng": "PNG", "image/gif": "GIF",
                  "image/webp": "WEBP"}
ACCEPTED_TEXT = ("images (JPEG, PNG, GIF, WebP), voice (OGG/Opus, MP3, M4A, WebM), video (MP4, WebM, MOV) "
                 "and PDF")


class UploadRejected(FikoError):
    pass


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


# --- checks -----------------------------------------------------------------------------------
def sniff(upload, client_content_type: str = "") -> str:
    """The MIME type read from the first bytes; raises UploadRejected (415) if not accepted."""
    upload.seek(0)
    head = upload.read(SNIFF_BYTES)
    upload.seek(0)
    kind = filetype.guess(head) if head else None
    mime = kind.mime if kind else None
    if mime == "video/webm" and (client_content_type or "").startswith("audio/"):
        mime = "audio/webm"  # same container; browsers record voice notes as audio/webm
    if mime not in ACCEPTED:
        found = f" (found {mime})" if mime else ""
        raise UploadRejected(ErrorCode.UNSUPPORTED_TYPE, f"Unsupported file type{found}: only {ACCEPTED_TEXT} are accepted")
    return mime


def _open_image(upload, mime: str):
    """Verify and fully decode; returns the loaded image. Raises UploadRejected."""
    invalid = UploadRejected(ErrorCode.UNSUPPORTED_TYPE, "The file is not a valid image")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            upload.seek(0)
            with Image.open(upload) as probe:
                if probe.format != PILLOW_FORMATS[mime]:
                    raise invalid
                if probe.width * probe.height > MAX_IMAGE_PIXELS:
                    raise UploadRejected(ErrorCode.UNSUPPORTED_TYPE,
                                         f"Image too large: at most {MAX_IMAGE_PIXELS} pixels")
                probe.verify()
            upload.seek(0)
            image = Image.open(upload)
            image.load()
            return image
    except UploadRejected:
        raise
    except (OSError, SyntaxError, ValueError, EOFError, Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise invalid from None


def _thumbnail_bytes(image) -> tuple[bytes, str]:
    thumb = ImageOps.exif_transpose(image) or image
    has_alpha = thumb.mode in ("RGBA", "LA", "PA") or (thumb.mode == "P" and "transparency" in thumb.info)
    thumb = thumb.convert("RGBA" if has_alpha else "RGB")
    thumb.thumbnail((THUMBNAIL_PX, THUMBNAIL_PX))
    out = io.BytesIO()
    if has_alpha:
        thumb.save(out, format="PNG", optimize=True)
        return out.getvalue(), "png"
    thumb.save(out, format="JPEG", quality=85)
    return out.getvalue(), "jpg"


def upload_store(*, upload, client_content_type: str = "") -> dict:
    """Check ``upload`` and store it; the result of seed 004's upload endpoint."""
    if upload is None:
        raise InvalidInput("Send the file as the multipart/form-data field 'file'", field="file")
    if upload.size is not None and upload.size > settings.UPLOAD_MAX_BYTES:
        raise too_large()
    if not upload.size:
        raise InvalidInput("The file is empty", field="file")
    mime = sniff(upload, client_content_type)
    kind = ACCEPTED[mime]
    thumbnail = None
    if kind.message_type == "image":
        with _open_image(upload, mime) as image:
            thumbnail = _thumbnail_bytes(image)
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


# --- media urls in messages ---------------------------------------------------------------------
_STORED_NAME = re.compile(r"^[0-9]+\.[0-9]{3}_[0-9a-f]{8}_[A-Za-z0-9_-]+\.[a-z0-9]+$")


def media_url_check(url: str, *, allow_external: bool = True) -> str:
    """A message's media_url: one of our uploads (``/uploads/...``) or, when
    ``allow_external`` (staff), an http(s) URL. Customers may only attach what they uploaded
    here, so a customer cannot make staff browsers load a third-party URL."""
    url = (url or "").strip()
    if not url:
        return ""
    media = settings.MEDIA_URL
    if url.startswith(media) and ".." not in url and "\\" not in url:
        return url
    if allow_external and re.match(r"^https?://[^\s]+$", url):
        return url
    allowed = f"a file uploaded here ({media}...)" + (" or an http(s) URL" if allow_external else "")
    raise InvalidInput(f"media_url must be {allowed}", field="media_url")


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
