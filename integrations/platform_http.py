"""Outbound HTTP to the platforms: one place for timeouts, size limits and redaction.

Every call has a bounded time budget (``PLATFORM_HTTP_TIMEOUT_SECONDS`` per phase, and an overall
deadline), and downloads stop at ``PLATFORM_MEDIA_MAX_BYTES``. Error texts that may end up in a
stored row or a log go through ``fiko.log_redaction.redact`` and have the caller's secrets
removed, so a bot token never leaves the server.
"""
import asyncio
import mimetypes

import httpx
from django.conf import settings

from fiko.log_redaction import redact


class PlatformHTTPError(Exception):
    """A network failure or an unusable answer; ``str()`` is safe to store and log."""


def timeout() -> httpx.Timeout:
    seconds = settings.PLATFORM_HTTP_TIMEOUT_SECONDS
    return httpx.Timeout(seconds, connect=min(5.0, seconds))


def deadline_seconds() -> float:
    """The most one platform call may take, all phases together."""
    return settings.PLATFORM_HTTP_TIMEOUT_SECONDS * 2


def client() -> httpx.AsyncClient:
    return httpx.AsyncClient(timeout=timeout(), follow_redirects=False)


def mask(text: str, *secrets: str) -> str:
    """``text`` shortened, with every given secret and anything token-like masked."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, "[redacted]")
    return redact(text)[:300]


def safe_error(exc: BaseException, *secrets: str) -> str:
    """A short description of ``exc`` with every secret masked."""
    return mask(f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__, *secrets)


async def download(url: str, *, headers=None, secrets=()) -> tuple[bytes, str]:
    """GET ``url`` into memory, at most ``PLATFORM_MEDIA_MAX_BYTES``. Returns (data, content type)."""
    limit = settings.PLATFORM_MEDIA_MAX_BYTES

    async def fetch():
        async with client() as http:
            async with http.stream("GET", url, headers=headers or {}, follow_redirects=True) as response:
                if response.status_code != 200:
                    raise PlatformHTTPError(f"download answered HTTP {response.status_code}")
                declared = response.headers.get("content-length")
                if declared and declared.isdigit() and int(declared) > limit:
                    raise PlatformHTTPError(f"file larger than {limit} bytes")
                chunks, size = [], 0
                async for chunk in response.aiter_bytes():
                    size += len(chunk)
                    if size > limit:
                        raise PlatformHTTPError(f"file larger than {limit} bytes")
                    chunks.append(chunk)
                content_type = response.headers.get("content-type", "").split(";")[0].strip().lower()
                return b"".join(chunks), content_type

    try:
        return await asyncio.wait_for(fetch(), deadline_seconds())
    except PlatformHTTPError:
        raise
    except (httpx.HTTPError, httpx.InvalidURL, asyncio.TimeoutError, OSError, ValueError, ExceptionGroup) as exc:
        # ValueError covers IDNA (UnicodeError) and port errors of a hostile URL.
        raise PlatformHTTPError(safe_error(exc, *secrets)) from None


def extension_for(content_type: str, data: bytes = b"", fallback: str = ".bin") -> str:
    """A file extension from the answer's content type, else from the bytes themselves."""
    if content_type and content_type != "application/octet-stream":
        ext = mimetypes.guess_extension(content_type)
        if ext:
            return ".jpg" if ext in (".jpe", ".jpeg") else ext
    if data:
        import filetype

        kind = filetype.guess(data[:262])
        if kind is not None:
            return f".{kind.extension}"
    return fallback
