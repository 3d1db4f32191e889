"""POST /api/v1/chat/upload: content sniffing, Pillow-verified images and thumbnails, safe names,
size limits that never let a too-large body reach the disk in full, pixel limits and bounded
decoding, and GET /uploads/... answers that no browser can run."""
import asyncio
import io
import json
from contextlib import ExitStack

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.http.multipartparser import MultiPartParser
from PIL import Image
from rest_framework.test import APIClient

from chat.uploads import MULTIPART_OVERHEAD, SizeLimitedUploadHandler
from fiko import media_content
from fiko.tokens import customer_tokens_for, staff_tokens_for
from tests.chat.media_checks import assert_cannot_run_script, browser_get, png_bomb

pytestmark = pytest.mark.django_db

URL = "/api/v1/chat/upload"
MiB = 1024 * 1024


def png_bytes(size=(800, 600), mode="RGB", color=(200, 30, 30)) -> bytes:
    out = io.BytesIO()
    Image.new(mode, size, color).save(out, format="PNG")
    return out.getvalue()


def jpeg_bytes(size=(1024, 768)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, (10, 120, 200)).save(out, format="JPEG")
    return out.getvalue()


@pytest.fixture
def api(staff):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {staff_tokens_for(staff)['access']}")
    return client


def stored_files(settings) -> list:
    root = settings.MEDIA_ROOT
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()) if root.exists() else []


def upload(api, name, data, content_type="application/octet-stream"):
    return api.post(URL, {"file": SimpleUploadedFile(name, data, content_type=content_type)}, format="multipart")


def test_png_is_stored_with_a_thumbnail_that_decodes(api, settings):
    response = upload(api, "holiday photo.png", png_bytes(), "image/png")
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["file_type"] == "image/png" and body["message_type"] == "image"
    assert body["file_name"] == "holiday_photo.png"
    assert body["file_url"].startswith("/uploads/chat/") and body["file_url"].endswith("_holiday_photo.png")
    assert body["file_size"] == len(png_bytes())
    assert body["thumbnail_url"].startswith("/uploads/chat/")

    original = settings.MEDIA_ROOT / body["file_url"].removeprefix("/uploads/")
    thumb_path = settings.MEDIA_ROOT / body["thumbnail_url"].removeprefix("/uploads/")
    assert original.read_bytes() == png_bytes()
    with Image.open(thumb_path) as thumb:
        thumb.load()
        assert max(thumb.size) == 320 and thumb.size == (320, 240)
    # Served by us at /uploads/.
    served = api.get(body["thumbnail_url"])
    assert served.status_code == 200
    with Image.open(io.BytesIO(b"".join(served.streaming_content))) as image:
        image.load()
        assert image.size == (320, 240)


def test_jpeg_and_transparent_png_thumbnails(api, settings):
    body = upload(api, "cam.jpg", jpeg_bytes(), "image/jpeg").json()
    assert body["file_type"] == "image/jpeg" and body["thumbnail_url"].endswith("_thumb.jpg")
    body = upload(api, "logo.png", png_bytes((100, 50), "RGBA", (0, 0, 0, 0)), "image/png").json()
    assert body["thumbnail_url"].endswith("_thumb.png")  # keeps the transparency
    with Image.open(settings.MEDIA_ROOT / body["thumbnail_url"].removeprefix("/uploads/")) as thumb:
        assert thumb.mode == "RGBA" and thumb.size == (100, 50)


def test_customer_token_may_upload_too(customer, settings):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {customer_tokens_for(customer)['access']}")
    assert upload(client, "me.png", png_bytes(), "image/png").status_code == 201


def test_without_token_is_401_and_stores_nothing(db, settings):
    response = upload(APIClient(), "me.png", png_bytes(), "image/png")
    assert response.status_code == 401
    assert stored_files(settings) == []


@pytest.mark.parametrize("name, data, content_type", [
    ("notes.png", b"just some text, not an image at all\n" * 10, "image/png"),
    ("page.jpg", b"<html><script>alert(1)</script></html>", "image/jpeg"),
    ("tool.pdf", b"MZ\x90\x00" + b"\x00" * 200, "application/pdf"),
    ("vector.png", b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>', "image/svg+xml"),
    ("archive.mp4", b"PK\x03\x04" + b"\x00" * 100, "video/mp4"),
])
def test_content_that_is_not_accepted_is_415_and_nothing_is_stored(api, settings, name, data, content_type):
    response = upload(api, name, data, content_type)
    assert response.status_code == 415
    assert response.json()["code"] == "unsupported_type" and "Unsupported file type" in response.json()["detail"]
    assert stored_files(settings) == []


def test_broken_image_is_refused(api, settings):
    truncated = png_bytes()[:300]  # the PNG signature, then garbage: sniffs as PNG, does not decode
    response = upload(api, "broken.png", truncated, "image/png")
    assert response.status_code == 415 and response.json()["detail"] == "The file is not a valid image"
    assert stored_files(settings) == []


def test_voice_video_and_pdf_are_accepted_by_content(api, settings):
    ogg = b"OggS\x00\x02" + b"\x00" * 20 + b"\x01\x13OpusHead" + b"\x00" * 64
    pdf = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
    mp4 = b"\x00\x00\x00\x18ftypisom\x00\x00\x02\x00isomiso2" + b"\x00" * 64
    webm = b"\x1a\x45\xdf\xa3\x9f\x42\x86\x81\x01\x42\xf7\x81\x01\x42\xf2\x81\x04\x42\xf3\x81\x08\x42\x82\x84webm" + b"\x00" * 64
    mp3 = b"ID3\x04\x00\x00\x00\x00\x00\x00" + b"\xff\xfb\x90\x00" * 32
    cases = [
        ("voice.ogg", ogg, "text/plain", "audio/ogg", "voice", "ogg"),  # the client's type is ignored
        ("scan", pdf, "application/octet-stream", "application/pdf", "file", "pdf"),
        ("clip.mov", mp4, "video/quicktime", "video/mp4", "video", "mp4"),
        ("note.webm", webm, "audio/webm", "audio/webm", "voice", "webm"),
        ("movie.webm", webm, "video/webm", "video/webm", "video", "webm"),
        ("song.mp3", mp3, "audio/mpeg", "audio/mpeg", "voice", "mp3"),
    ]
    for name, data, client_type, mime, message_type, extension in cases:
        response = upload(api, name, data, client_type)
        assert response.status_code == 201, (name, response.content)
        body = response.json()
        assert (body["file_type"], body["message_type"], body["thumbnail_url"]) == (mime, message_type, None), name
        assert body["file_url"].endswith(f".{extension}") and body["file_name"].endswith(f".{extension}")
    assert len(stored_files(settings)) == len(cases)


def test_names_are_sanitised(api, settings):
    response = upload(api, "../../etc/pass wd<script>.html.png", png_bytes((10, 10)), "image/png")
    body = response.json()
    assert body["file_name"] == "pass_wd_script_html.png"
    files = stored_files(settings)
    assert all(f.startswith("chat/") and "/" not in f[len("chat/"):] for f in files)
    assert len(files) == 2
    response = upload(api, "....png", png_bytes((10, 10)), "image/png")
    assert response.json()["file_name"] == "file.png"
    response = upload(api, "فاکتور.pdf", b"%PDF-1.4\n%%EOF\n")
    assert response.json()["file_name"] == "file.pdf"


def test_missing_or_empty_file_is_400(api, settings):
    response = api.post(URL, {"other": "x"}, format="multipart")
    assert response.status_code == 400 and "'file'" in response.json()["detail"]
    assert upload(api, "empty.png", b"").status_code == 400
    assert api.post(URL, {"file": "x"}, format="json").status_code == 415  # not multipart
    assert stored_files(settings) == []


# --- size ----------------------------------------------------------------------------------------
def test_over_the_limit_is_413(api, settings):
    settings.UPLOAD_MAX_BYTES = 200_000
    response = upload(api, "big.pdf", b"%PDF-1.4\n" + b"0" * 250_000)
    assert response.status_code == 413 and response.json()["code"] == "too_large"
    assert "200000 bytes" in response.json()["detail"]
    assert stored_files(settings) == []
    assert upload(api, "ok.pdf", b"%PDF-1.4\n" + b"0" * 150_000).status_code == 201


def test_15_mib_upload_declared_length_is_refused_before_reading(api, settings):
    response = upload(api, "huge.pdf", b"%PDF-1.4\n" + b"0" * (15 * MiB))
    assert response.status_code == 413 and "10 MiB" in response.json()["detail"]
    assert stored_files(settings) == []


def _multipart(name: str, data: bytes, boundary="BoUnDaRy") -> bytes:
    return (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{name}\"\r\n"
            f"Content-Type: application/pdf\r\n\r\n").encode() + data + f"\r\n--{boundary}--\r\n".encode()


def test_handler_stops_a_15_mib_file_without_keeping_it(settings):
    """Whatever length a client declares, the handler keeps at most UPLOAD_MAX_BYTES bytes."""
    body = _multipart("huge.pdf", b"%PDF-1.4\n" + b"0" * (15 * MiB))
    handler = SizeLimitedUploadHandler(limit=settings.UPLOAD_MAX_BYTES)
    meta = {"CONTENT_TYPE": "multipart/form-data; boundary=BoUnDaRy", "CONTENT_LENGTH": str(len(body))}
    _, files = MultiPartParser(meta, io.BytesIO(body), [handler]).parse()
    assert handler.exceeded and "file" not in files
    assert handler.written <= settings.UPLOAD_MAX_BYTES < 15 * MiB
    assert handler.received < settings.UPLOAD_MAX_BYTES + 1 * MiB  # stopped reading soon after the limit
    assert handler.file.closed
    assert stored_files(settings) == []


# --- the real ASGI stack: the body never gets spooled by Django -------------------------------------
async def _asgi_upload(token: str, chunks, *, declared_length=None):
    from fiko.asgi import application

    headers = [(b"authorization", f"Bearer {token}".encode()),
               (b"content-type", b"multipart/form-data; boundary=BoUnDaRy"), (b"host", b"testserver")]
    if declared_length is not None:
        headers.append((b"content-length", str(declared_length).encode()))
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST", "scheme": "http",
             "path": URL, "raw_path": URL.encode(), "query_string": b"", "root_path": "", "headers": headers,
             "client": ("127.0.0.1", 5000), "server": ("testserver", 80)}
    consumed = {"bytes": 0}
    pending = list(chunks)
    sent = []

    async def receive():
        if not pending:  # the client waits for the answer (a real server blocks here too)
            await asyncio.Future()
        chunk = pending.pop(0)
        consumed["bytes"] += len(chunk)
        return {"type": "http.request", "body": chunk, "more_body": bool(pending)}

    async def send(message):
        sent.append(message)

    await application(scope, receive, send)
    status = next(m["status"] for m in sent if m["type"] == "http.response.start")
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return status, json.loads(body or b"{}"), consumed["bytes"]


@pytest.mark.django_db(transaction=True)
async def test_asgi_streamed_15_mib_body_is_cut_off_at_the_limit(staff, settings):
    from asgiref.sync import sync_to_async

    token = (await sync_to_async(staff_tokens_for)(staff))["access"]
    body = _multipart("huge.pdf", b"%PDF-1.4\n" + b"0" * (15 * MiB))
    chunks = [body[i:i + 64 * 1024] for i in range(0, len(body), 64 * 1024)]
    status, answer, consumed = await _asgi_upload(token, chunks)  # no Content-Length: streamed
    assert status == 413 and answer["code"] == "too_large"
    assert consumed <= settings.UPLOAD_MAX_BYTES + MULTIPART_OVERHEAD + 64 * 1024 < len(body)
    assert stored_files(settings) == []


@pytest.mark.django_db(transaction=True)
async def test_asgi_declared_15_mib_body_is_refused_unread(staff, settings):
    from asgiref.sync import sync_to_async

    token = (await sync_to_async(staff_tokens_for)(staff))["access"]
    body = _multipart("huge.pdf", b"%PDF-1.4\n" + b"0" * (15 * MiB))
    status, answer, consumed = await _asgi_upload(token, [body], declared_length=len(body))
    assert status == 413 and consumed == 0
    assert stored_files(settings) == []


@pytest.mark.django_db(transaction=True)
async def test_asgi_small_upload_goes_through(staff, settings):
    from asgiref.sync import sync_to_async

    token = (await sync_to_async(staff_tokens_for)(staff))["access"]
    body = _multipart("scan.pdf", b"%PDF-1.4\n%%EOF\n")
    status, answer, consumed = await _asgi_upload(token, [body[:20], body[20:]], declared_length=len(body))
    assert status == 201, answer
    assert answer["file_type"] == "application/pdf" and consumed == len(body)
    assert len(stored_files(settings)) == 1


# --- served so that no browser runs it (GET /uploads/..., as a browser opens the link) ----------------
OGG = b"OggS\x00\x02" + b"\x00" * 20 + b"\x01\x13OpusHead" + b"\x00" * 64
MP4 = b"\x00\x00\x00\x18ftypisom\x00\x00\x02\x00isomiso2" + b"\x00" * 64
PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"


def test_uploaded_image_and_its_thumbnail_are_served_as_images_that_cannot_run_script(api):
    body = upload(api, "photo.png", png_bytes(), "image/png").json()
    for url, expected in ((body["file_url"], "image/png"), (body["thumbnail_url"], "image/jpeg")):
        response = browser_get(url)
        content_type, disposition = assert_cannot_run_script(response)
        assert content_type == expected and not disposition.startswith("attachment")
    assert browser_get(body["file_url"]).body == png_bytes()


@pytest.mark.parametrize("name, data, served_as, inline", [
    ("voice.ogg", OGG, "audio/ogg", True),
    ("clip.mp4", MP4, "video/mp4", True),
    ("scan.pdf", PDF, "application/octet-stream", False),  # not a type the inbox renders: a download
])
def test_uploaded_files_are_inline_only_when_the_inbox_renders_them(api, name, data, served_as, inline):
    body = upload(api, name, data).json()
    response = browser_get(body["file_url"])
    content_type, disposition = assert_cannot_run_script(response)
    assert content_type == served_as and response.body == data
    assert disposition.startswith("attachment") is not inline
    if not inline:
        assert f'filename="{body["file_url"].rsplit("/", 1)[1]}"' in disposition


@pytest.mark.parametrize("name, data, content_type", [
    ("page.html", b"<!DOCTYPE html><html><body><script>alert(document.cookie)</script></body></html>", "text/html"),
    ("logo.svg", b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"/>', "image/svg+xml"),
    ("page.png", "\ufeff<html><script>alert(1)</script></html>".encode("utf-16"), "image/png"),
])
def test_html_and_svg_uploads_are_refused_and_nothing_is_served(api, settings, name, data, content_type):
    response = upload(api, name, data, content_type)
    assert response.status_code == 415 and response.json()["code"] == "unsupported_type"
    assert stored_files(settings) == []


# --- images that decompress huge ----------------------------------------------------------------------
def test_decompression_bomb_png_is_refused_from_its_header(customer, settings):
    """Issue 8: a ~155 KB PNG of 6,320 x 6,320 RGBA (160 MB decoded), sent with a customer token."""
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {customer_tokens_for(customer)['access']}")
    bomb = png_bomb()
    assert len(bomb) < 200_000
    response = upload(client, "bomb.png", bomb, "image/png")
    assert response.status_code == 413
    answer = response.json()
    assert answer["code"] == "too_large" and answer["max_pixels"] == 25_000_000
    assert "6320 x 6320 pixels" in answer["detail"] and "limit is 25000000 pixels" in answer["detail"]
    assert stored_files(settings) == []


def test_the_pixel_limit_is_a_setting(api, settings):
    settings.UPLOAD_MAX_IMAGE_PIXELS = 400_000
    response = upload(api, "800x600.png", png_bytes((800, 600)), "image/png")
    assert response.status_code == 413 and "800 x 600 pixels" in response.json()["detail"]
    assert upload(api, "600x600.png", png_bytes((600, 600)), "image/png").status_code == 201


def test_camera_sized_jpeg_gets_an_upright_thumbnail(api, settings):
    image = Image.new("RGB", (4032, 3024), (10, 120, 200))  # a 12 Mpx phone photo, taken sideways
    exif = Image.Exif()
    exif[0x0112] = 6  # shown rotated 90 degrees clockwise
    out = io.BytesIO()
    image.save(out, format="JPEG", quality=80, exif=exif)
    response = upload(api, "IMG_0001.JPG", out.getvalue(), "image/jpeg")
    assert response.status_code == 201, response.content
    with Image.open(settings.MEDIA_ROOT / response.json()["thumbnail_url"].removeprefix("/uploads/")) as thumb:
        assert thumb.size == (240, 320)  # upright: portrait


def _hold_decode_slots(stack: ExitStack, count: int) -> None:
    for _ in range(count):
        stack.enter_context(media_content.decode_slot())


def test_when_every_decoding_slot_is_busy_an_image_upload_is_429_and_stores_nothing(api, settings):
    settings.IMAGE_DECODE_WAIT_SECONDS = 0.2  # how long an upload waits for a slot
    with ExitStack() as stack:
        _hold_decode_slots(stack, media_content.decode_concurrency())  # as if that many images were decoding
        response = upload(api, "photo.png", png_bytes(), "image/png")
        assert response.status_code == 429 and response["Retry-After"] == "2"
        assert response.json()["code"] == "rate_limited" and "busy" in response.json()["detail"]
        assert stored_files(settings) == []
        assert upload(api, "scan.pdf", PDF).status_code == 201  # nothing to decode: not held up
    assert upload(api, "photo.png", png_bytes(), "image/png").status_code == 201  # slots free again


def test_decoding_slots_per_process_are_a_setting(api, settings):
    settings.IMAGE_DECODE_CONCURRENCY = 3
    settings.IMAGE_DECODE_WAIT_SECONDS = 0.2
    with ExitStack() as stack:
        _hold_decode_slots(stack, 2)
        assert upload(api, "photo.png", png_bytes(), "image/png").status_code == 201  # the third slot
        _hold_decode_slots(stack, 1)
        assert upload(api, "photo.png", png_bytes(), "image/png").status_code == 429
