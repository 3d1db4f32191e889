"""ASGI guard: refuse request bodies larger than any endpoint accepts, before Django reads them.

Django's ASGI handler reads the whole body into a spooled temporary file (memory up to
FILE_UPLOAD_MAX_MEMORY_SIZE, then disk) before a view runs, so a view cannot refuse a
15 MiB upload without it landing on disk first. This middleware answers 413 instead:
at once when ``Content-Length`` is over the limit, and as soon as the bytes received pass it
when the body is streamed without a length. The largest body any endpoint takes is a chat
upload (settings.UPLOAD_MAX_BYTES plus multipart framing).

Note: under Daphne, Twisted buffers a request body itself (in a temporary file past 100 kB)
before any ASGI application sees it; there the proxy's body limit (e.g. nginx
``client_max_body_size``) is what keeps a huge upload off the disk. Uvicorn streams the body
to the application, so this guard stops reading it.
"""
import json

from django.conf import settings


def max_body_bytes(scope=None) -> int:
    """An upload (multipart) may carry a file; any other body is at most
    DATA_UPLOAD_MAX_MEMORY_SIZE (what Django itself accepts)."""
    from chat.uploads import MULTIPART_OVERHEAD

    if scope is not None and not _header(scope, b"content-type").startswith(b"multipart/"):
        return settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    return settings.UPLOAD_MAX_BYTES + MULTIPART_OVERHEAD


def _header(scope, wanted: bytes) -> bytes:
    for name, value in scope.get("headers", []):
        if name == wanted:
            return value.lower()
    return b""


def _declared_length(scope) -> int | None:
    value = _header(scope, b"content-length")
    return int(value) if value.isdigit() else None  # Django answers a malformed length itself


async def _send_413(send, limit: int) -> None:
    if limit == settings.DATA_UPLOAD_MAX_MEMORY_SIZE:
        detail = f"Request body too large: the limit is {limit} bytes"
    else:
        limit = settings.UPLOAD_MAX_BYTES
        detail = f"Request body too large: the limit is {limit} bytes for a file"
    body = json.dumps({"detail": detail, "code": "too_large", "limit": limit}).encode()
    await send({"type": "http.response.start", "status": 413, "headers": [
        (b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
        (b"connection", b"close"),
    ]})
    await send({"type": "http.response.body", "body": body})


class RequestBodyLimit:
    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        limit = max_body_bytes(scope)
        declared = _declared_length(scope)
        if declared is not None and declared > limit:
            return await _send_413(send, limit)
        received = 0

        async def limited_receive():
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    await _send_413(send, limit)
                    return {"type": "http.disconnect"}  # Django stops reading and answers nothing
            return message

        return await self.app(scope, limited_receive, send)
