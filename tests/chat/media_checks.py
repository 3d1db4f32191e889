"""Shared by the upload and platform-media tests: fetch a stored file the way a browser opens a
link to it, say whether that answer could run script, and build the hostile images of issue 8."""
import struct
import zlib
from functools import lru_cache
from urllib.parse import urlsplit

from django.test import Client

# Types a browser would render as a document (or run) if it were given them.
ACTIVE_TYPES = {
    "text/html", "application/xhtml+xml", "image/svg+xml", "text/xml", "application/xml", "text/xsl",
    "text/javascript", "application/javascript", "application/ecmascript", "text/css", "multipart/x-mixed-replace",
}
BROWSER_HEADERS = {
    "Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,*/*;q=0.8",
    "Sec-Fetch-Dest": "document", "Sec-Fetch-Mode": "navigate", "Sec-Fetch-Site": "none",
    "User-Agent": "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0",
}


def browser_get(url: str, client: Client | None = None):
    """GET a stored file's URL (absolute, or ``/uploads/...``) as a browser navigating to it, and
    read the whole body into ``response.body``."""
    parts = urlsplit(url)
    path = parts.path + (f"?{parts.query}" if parts.query else "")
    response = (client or Client()).get(path, headers=BROWSER_HEADERS)
    response.body = b"".join(response.streaming_content) if response.streaming else response.content
    return response


def assert_cannot_run_script(response) -> tuple[str, str]:
    """The answer is a file no browser will execute on our origin. Returns (type, disposition)."""
    assert response.status_code == 200, response.status_code
    directives = [d.strip().split() for d in response["Content-Security-Policy"].split(";") if d.strip()]
    sandbox = next((d for d in directives if d[0].lower() == "sandbox"), None)
    assert sandbox is not None and not any(token.lower() == "allow-scripts" for token in sandbox[1:]), directives
    assert response["X-Content-Type-Options"].lower() == "nosniff"
    assert "Content-Encoding" not in response  # the browser would unpack and render what is inside
    content_type = response["Content-Type"].split(";")[0].strip().lower()
    assert content_type not in ACTIVE_TYPES and not content_type.startswith("text/"), content_type
    disposition = response.get("Content-Disposition", "")
    if content_type.split("/")[0] not in ("image", "audio", "video"):
        assert disposition.lower().startswith("attachment"), (content_type, disposition)
    return content_type, disposition


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


@lru_cache(maxsize=4)
def png_bomb(width: int = 6320, height: int = 6320) -> bytes:
    """A valid, fully decodable RGBA PNG of ``width`` x ``height`` transparent pixels: the
    ~155 KB file of issue 8 that decodes to 160 MB. Compressed row by row, so building it does
    not need the pixels in memory."""
    row = b"\x00" + bytes(width * 4)
    compressor = zlib.compressobj(9)
    idat = b"".join([compressor.compress(row) for _ in range(height)] + [compressor.flush()])
    return (b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 6, 0, 0, 0))
            + _chunk(b"IDAT", idat) + _chunk(b"IEND", b""))
