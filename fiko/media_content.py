"""What a stored file is, read from its bytes: the one content check behind everything under
``/uploads/`` — chat uploads (chat/uploads.py) and fetched platform media (integrations/media.py).

- The type comes from the content (``filetype``), never from a client's or a platform's content
  type or file name.
- HTML, SVG, XML and script are never stored as something a browser renders: chat uploads
  refuse them (only ``ACCEPTED`` types are taken); platform media keeps them as an inert text
  download (``<name>_html.txt``) so staff still see that the customer sent a file.
- Images are checked before they are decoded: the format must match the content, and the
  declared size must be at most ``UPLOAD_MAX_IMAGE_PIXELS`` (default 25 Mpx). A full decode
  (thumbnails) takes one of ``IMAGE_DECODE_CONCURRENCY`` slots per process (default 2; a busy
  upload waits up to ``IMAGE_DECODE_WAIT_SECONDS``, then gets 429) and uses JPEG draft (DCT)
  scaling and a strip-by-strip ``reduce``, so memory stays bounded however many images arrive
  at once. Platform images get the same header check (they are not decoded: no thumbnail).

Why 25 Mpx: a phone photo is 12 Mpx (4032 x 3024) and a 24 Mpx camera photo is 6000 x 4000; a
chat shows images at a few hundred to ~2,000 pixels. Camera JPEGs decode at 1/4-1/8 scale
anyway; the cost is in PNG/WebP/GIF, where 25 Mpx decoded as RGBA is 100 MB, so two slots keep
pixel buffers near 200-250 MB per process (measured: 8 parallel 25 Mpx RGBA PNGs peak ~250 MB;
before, 8 parallel 40 Mpx ones reached 3.5 GB). The 6,320 x 6,320 PNG bomb of issue 8 (40 Mpx)
is refused from its header without decoding.

``fiko.media_serving`` serves by the extension chosen here: ``RENDERED`` types inline, anything
else as an attachment.
"""
import io
import re
import threading
from contextlib import contextmanager
from dataclasses import dataclass

import filetype
from django.conf import settings
from PIL import Image

from fiko.errors import ErrorCode, FikoError

SNIFF_BYTES = 8192
THUMBNAIL_PX = 320


class MediaRejected(FikoError):
    """A file we do not store (REST: 413 too_large, 415 unsupported_type, 429 rate_limited)."""


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

# Extensions served inline, with the only Content-Type each is ever served as: the image, audio
# and video types the inbox renders. Nothing here can carry script.
RENDERED = {
    "jpg": "image/jpeg", "jpeg": "image/jpeg", "png": "image/png", "gif": "image/gif", "webp": "image/webp",
    "ogg": "audio/ogg", "oga": "audio/ogg", "opus": "audio/ogg", "mp3": "audio/mpeg", "m4a": "audio/mp4",
    "aac": "audio/aac", "wav": "audio/wav", "weba": "audio/webm",
    "mp4": "video/mp4", "m4v": "video/mp4", "webm": "video/webm", "mov": "video/quicktime",
}
# Extensions a platform file keeps when it has them (served as downloads). No browser renders
# any of them as a document, whatever server serves MEDIA_ROOT.
DOWNLOADS = frozenset({
    "pdf", "txt", "csv", "rtf", "doc", "docx", "xls", "xlsx", "ppt", "pptx", "odt", "ods", "odp", "epub",
    "zip", "rar", "7z", "gz", "tgz", "tar", "tgs", "heic", "heif", "bmp", "tif", "tiff", "amr", "flac", "3gp",
    "mkv", "avi", "apk", "bin",
})
INERT_TEXT = "txt"  # markup (HTML, SVG, XML) from a platform, kept readable but inert
INERT_BINARY = "bin"  # anything else we would not serve under its own extension

# After optional whitespace, a document a browser would parse as HTML/SVG/XML.
_MARKUP_START = re.compile(r"^\s*<")
# Anywhere in the first bytes: the tags and schemes that make text active.
_MARKUP_ANYWHERE = re.compile(
    r"<\s*(?:!doctype|html|head|body|script|iframe|frame|svg|math|object|embed|style|meta|link|base|form|img|"
    r"xml|\?xml|xsl|x:|!\[cdata\[)|javascript\s*:|vbscript\s*:", re.IGNORECASE)


# --- sniffing -----------------------------------------------------------------------------------
def sniff_mime(head: bytes, client_content_type: str = "") -> str | None:
    """The MIME type the first bytes say, or None (text, markup, or unknown)."""
    kind = filetype.guess(head) if head else None
    mime = kind.mime if kind else None
    if mime == "video/webm" and (client_content_type or "").startswith("audio/"):
        mime = "audio/webm"  # same container; browsers record voice notes as audio/webm
    return mime


def _as_text(head: bytes) -> str:
    for bom, encoding in ((b"\xef\xbb\xbf", "utf-8"), (b"\xff\xfe\x00\x00", "utf-32-le"),
                          (b"\x00\x00\xfe\xff", "utf-32-be"), (b"\xff\xfe", "utf-16-le"), (b"\xfe\xff", "utf-16-be")):
        if head.startswith(bom):
            return head[len(bom):].decode(encoding, "ignore")
    if head[:2].count(b"\x00") == 1:  # UTF-16 without a BOM ("<\x00h\x00...")
        return head.decode("utf-16-le" if head[1:2] == b"\x00" else "utf-16-be", "ignore")
    return head.decode("latin-1")


def looks_like_markup(head: bytes) -> bool:
    """HTML, SVG, XML or script-bearing text, as a browser sniffing it might take it."""
    text = _as_text(head).replace("\x00", "")
    return bool(_MARKUP_START.match(text) or _MARKUP_ANYWHERE.search(text))


def _head(file) -> bytes:
    file.seek(0)
    head = file.read(SNIFF_BYTES)
    file.seek(0)
    return head


def accepted_mime(file, client_content_type: str = "") -> str:
    """The MIME type of an upload read from its content; raises MediaRejected (415) unless it is
    one of ``ACCEPTED`` (so never HTML, SVG, XML or script)."""
    mime = sniff_mime(_head(file), client_content_type)
    if mime not in ACCEPTED:
        found = f" (found {mime})" if mime else ""
        raise MediaRejected(ErrorCode.UNSUPPORTED_TYPE, f"Unsupported file type{found}: only {ACCEPTED_TEXT} are accepted")
    return mime


# --- images -----------------------------------------------------------------------------------------
def max_image_pixels() -> int:
    return settings.UPLOAD_MAX_IMAGE_PIXELS


def _invalid_image() -> MediaRejected:
    return MediaRejected(ErrorCode.UNSUPPORTED_TYPE, "The file is not a valid image")


def image_check(file, mime: str) -> tuple[int, int]:
    """Check an image without decoding its pixels: the format matches the content, the size in the
    header is within ``max_image_pixels()``, and the structure verifies. Returns (width, height).
    Raises MediaRejected: 413 too_large over the pixel limit, 415 when it is not a valid image."""
    limit = max_image_pixels()
    expected = PILLOW_FORMATS.get(mime)
    if expected is None:
        raise _invalid_image()
    try:
        file.seek(0)
        with Image.open(file, formats=[expected]) as probe:  # only the decoder the content names
            if probe.format != expected:
                raise _invalid_image()
            width, height = probe.size
            if width * height > limit:
                raise MediaRejected(
                    ErrorCode.TOO_LARGE,
                    f"Image too large: {width} x {height} pixels; the limit is {limit} pixels ({limit / 1e6:g} Mpx)",
                    max_pixels=limit)
            probe.verify()
    except MediaRejected:
        raise
    except Exception:  # hostile bytes make parsers raise anything (OSError, SyntaxError, struct.error...)
        raise _invalid_image() from None
    finally:
        file.seek(0)
    return width, height


_slots_lock = threading.Lock()
_slots: tuple[int, threading.BoundedSemaphore] | None = None


def decode_concurrency() -> int:
    return max(1, settings.IMAGE_DECODE_CONCURRENCY)


def _semaphore() -> threading.BoundedSemaphore:
    global _slots
    size = decode_concurrency()
    with _slots_lock:
        if _slots is None or _slots[0] != size:
            _slots = (size, threading.BoundedSemaphore(size))
        return _slots[1]


@contextmanager
def decode_slot():
    """One of the process's image-decoding slots. Uploads are handled in threads (sync views, and
    ``sync_to_async`` for platform media), so a thread semaphore bounds them all. Raises
    MediaRejected (429 rate_limited, with retry_after) when no slot frees up in time."""
    slots = _semaphore()
    if not slots.acquire(timeout=settings.IMAGE_DECODE_WAIT_SECONDS):
        raise MediaRejected(ErrorCode.RATE_LIMITED, "The server is busy processing other images: try again shortly",
                            retry_after=2)
    try:
        yield
    finally:
        slots.release()


# EXIF orientation -> the transpose that shows the image upright (as ImageOps.exif_transpose).
_UPRIGHT = {2: Image.Transpose.FLIP_LEFT_RIGHT, 3: Image.Transpose.ROTATE_180, 4: Image.Transpose.FLIP_TOP_BOTTOM,
            5: Image.Transpose.TRANSPOSE, 6: Image.Transpose.ROTATE_270, 7: Image.Transpose.TRANSVERSE,
            8: Image.Transpose.ROTATE_90}
_STRIP_ROWS = 256  # rows converted and reduced at a time


def _reduced(image, mode: str, target: tuple[int, int]):
    """``image`` in ``mode``, shrunk by the largest whole factor that keeps it at least twice
    ``target``. Done a strip of rows at a time, so no full-size converted copy is ever made (a
    whole-image convert or ``reduce`` of RGBA doubles the memory of the decoded pixels)."""
    width, height = image.size
    factor = max(1, min(width // (target[0] * 2), height // (target[1] * 2)))
    if factor == 1:
        return image if image.mode == mode else image.convert(mode)
    image.load()
    reduced = Image.new(mode, (-(-width // factor), -(-height // factor)))
    step = factor * max(1, _STRIP_ROWS // factor)  # a multiple of factor: strips meet exactly
    for top in range(0, height, step):
        strip = image.crop((0, top, width, min(height, top + step)))
        if strip.mode != mode:
            strip = strip.convert(mode)
        reduced.paste(strip.reduce(factor), (0, top // factor))
    return reduced


def thumbnail(file, mime: str) -> tuple[bytes, str]:
    """A thumbnail at most THUMBNAIL_PX on a side, upright, as (bytes, "png" | "jpg"); ``file`` (of
    type ``mime``) must have passed ``image_check``. Decoding takes one of the process's slots.
    JPEGs decode at a reduced DCT scale (``draft``: 1/2 to 1/8 of the pixels); other formats are
    decoded once and reduced strip by strip, so memory stays near the decoded image itself.
    Raises MediaRejected (415) when the pixel data does not decode."""
    with decode_slot():
        try:
            file.seek(0)
            with Image.open(file, formats=[PILLOW_FORMATS[mime]]) as image:
                width, height = image.size
                scale = min(THUMBNAIL_PX / width, THUMBNAIL_PX / height, 1.0)
                target = (max(1, round(width * scale)), max(1, round(height * scale)))
                orientation = image.getexif().get(0x0112)
                image.draft(None, (target[0] * 2, target[1] * 2))  # JPEG only; a no-op otherwise
                has_alpha = image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info)
                small = _reduced(image, "RGBA" if has_alpha else "RGB", target)
                small.thumbnail((THUMBNAIL_PX, THUMBNAIL_PX), reducing_gap=None)
                if orientation in _UPRIGHT:
                    small = small.transpose(_UPRIGHT[orientation])
                out = io.BytesIO()
                if has_alpha:
                    small.save(out, format="PNG", optimize=True)
                    return out.getvalue(), "png"
                small.save(out, format="JPEG", quality=85)
                return out.getvalue(), "jpg"
        except Exception:  # as in image_check: undecodable pixel data is not a valid image
            raise _invalid_image() from None
        finally:
            file.seek(0)


# --- platform media ---------------------------------------------------------------------------------
def platform_file_name(name: str, data: bytes) -> str:
    """The name to store a platform file under (``name`` already sanitized): its stem, with an
    extension decided by the content, so nothing stored is renderable unless it is safe to render.

    - markup (HTML, SVG, XML, script) -> ``<stem>_<ext>.txt``: an inert text download;
    - an image that fails ``image_check`` (not valid, or over the pixel limit) -> ``.bin``;
    - otherwise the platform's extension when it is ``RENDERED`` or a known download type, else
      the extension of the sniffed type, else ``.bin``.
    Inner dots of the stem are folded (no ``x.html.png`` for servers that honour every extension).
    """
    stem, dot, extension = name.rpartition(".")
    if not dot:
        stem, extension = name, ""
    extension = extension.lower()
    stem = (stem.replace(".", "_") or "file")

    def inert(kind: str) -> str:
        folded = f"{stem}_{extension}" if extension and extension != kind else stem
        return f"{folded}.{kind}"

    head = data[:SNIFF_BYTES]
    mime = sniff_mime(head)
    if mime is None and looks_like_markup(head):
        return inert(INERT_TEXT)
    if mime in PILLOW_FORMATS:
        try:
            image_check(io.BytesIO(data), mime)
        except MediaRejected:
            return inert(INERT_BINARY)
    if extension in RENDERED or extension in DOWNLOADS:
        return f"{stem}.{extension}"
    if mime in ACCEPTED:
        return f"{stem}.{ACCEPTED[mime].extension}"
    known = filetype.get_type(mime=mime) if mime else None
    sniffed = known.extension if known else ""
    if sniffed in RENDERED or sniffed in DOWNLOADS:
        return f"{stem}.{sniffed}"
    return inert(INERT_BINARY)
