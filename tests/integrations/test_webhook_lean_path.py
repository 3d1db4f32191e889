"""Platform webhooks through the production ASGI application (fiko/asgi.py), which serves them on
a lean path (fiko/webhook_http.py): the answers are those of Django's full chain (the test
Client), the request id is answered and logged, and one slow delivery does not hold up the next."""
import asyncio
import itertools
import json
import logging
import threading

import pytest
from asgiref.sync import async_to_sync
from django.test import override_settings
from django.urls import reverse

from conversations.models import Message
from fiko.asgi import application
from fiko.log_json import JsonFormatter
from fiko.webhook_http import is_webhook
from integrations import webhooks
from integrations.inbound import channel_for_webhook
from integrations.telegram.views import SECRET_HEADER
from tests.integrations.conftest import database_unreachable, load_fixture, post_telegram

pytestmark = pytest.mark.django_db(transaction=True)

SAME_HEADERS = ("Content-Type", "X-Frame-Options", "X-Content-Type-Options", "Referrer-Policy",
                "Cross-Origin-Opener-Policy", "Retry-After")


async def asgi_post(path, body: bytes, headers: dict, *, method="POST", host="testserver"):
    """One HTTP request to fiko.asgi.application: (status, headers, body)."""
    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": method, "scheme": "http",
        "path": path, "raw_path": path.encode(), "root_path": "", "query_string": b"",
        "headers": [(b"host", host.encode()), (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                    *[(k.lower().encode(), v.encode()) for k, v in headers.items()]],
        "client": ("127.0.0.1", 40000), "server": ("testserver", 80),
    }
    sent, answered = [], asyncio.Event()
    chunks = [{"type": "http.request", "body": body, "more_body": False}]

    async def receive():
        if chunks:
            return chunks.pop()
        await answered.wait()
        return {"type": "http.disconnect"}

    async def send(message):
        sent.append(message)
        if message["type"] == "http.response.body" and not message.get("more_body"):
            answered.set()

    await asyncio.create_task(application(scope, receive, send))  # a task per request, as a server runs it
    start = next(m for m in sent if m["type"] == "http.response.start")
    content = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    names = {k.decode().lower(): v.decode() for k, v in start["headers"]}
    return start["status"], names, content


async def telegram_post(channel, payload=None, *, raw=None, secret=None, host="testserver", **extra):
    body = raw if raw is not None else json.dumps(payload).encode()
    headers = {SECRET_HEADER: channel.webhook_secret if secret is None else secret, **extra}
    return await asgi_post(f"/integrations/telegram/{channel.pk}/webhook/", body, headers, host=host)


def assert_same_answer(lean, client_response):
    status, headers, content = lean
    assert status == client_response.status_code
    assert json.loads(content) == client_response.json()
    for name in SAME_HEADERS:
        assert headers.get(name.lower()) == client_response.headers.get(name), name


def test_only_webhook_paths_take_the_lean_path():
    for platform in ("telegram", "instagram"):  # the route's own URLs (integrations/urls.py)
        assert is_webhook({"path": reverse("platform-webhook", kwargs={"platform": platform, "channel_id": 12})})
    assert is_webhook({"path": "/integrations/telegram/12/webhook/"})
    assert is_webhook({"path": "/fiko/integrations/instagram/3/webhook/", "root_path": "/fiko"})
    for path in ("/integrations/telegram/12/webhook", "/integrations/telegram/x/webhook/",
                 "/api/integrations/telegram/12/webhook/", "/integrations/telegram/12/webhook/more/"):
        assert not is_webhook({"path": path}), path


def test_a_stored_update_is_answered_as_on_the_full_chain(telegram_channel):
    lean = async_to_sync(telegram_post)(telegram_channel, load_fixture("telegram", "text.json"))
    assert lean[0] == 200 and json.loads(lean[2]) == {"ok": True, "result": "stored"}
    assert Message.objects.count() == 1
    # The same update again, through Django's full chain: a duplicate, answered alike.
    again = async_to_sync(telegram_post)(telegram_channel, load_fixture("telegram", "text.json"))
    assert_same_answer(again, post_telegram(telegram_channel, load_fixture("telegram", "text.json")))
    assert Message.objects.count() == 1
    assert lean[1]["x-frame-options"] == "DENY" and lean[1]["x-content-type-options"] == "nosniff"


def test_refusals_are_answered_as_on_the_full_chain(telegram_channel, settings):
    payload = load_fixture("telegram", "text.json")
    # Wrong secret: 403.
    assert_same_answer(async_to_sync(telegram_post)(telegram_channel, payload, secret="wrong"),
                       post_telegram(telegram_channel, payload, secret="wrong"))
    # Over the webhook's size limit: 413.
    big = json.dumps({**payload, "pad": "x" * settings.WEBHOOK_MAX_BODY_BYTES}).encode()
    lean = async_to_sync(telegram_post)(telegram_channel, raw=big)
    assert lean[0] == 413
    assert_same_answer(lean, post_telegram(telegram_channel, None, raw=big))
    # Not JSON: 200, ignored.
    assert_same_answer(async_to_sync(telegram_post)(telegram_channel, raw=b"{not json"),
                       post_telegram(telegram_channel, None, raw=b"{not json"))
    assert not Message.objects.exists()


def test_a_host_not_allowed_is_400(telegram_channel):
    with override_settings(ALLOWED_HOSTS=["fiko.example"]):
        status, _, _ = async_to_sync(telegram_post)(telegram_channel, load_fixture("telegram", "text.json"),
                                                    host="elsewhere.example")
    assert status == 400
    assert not Message.objects.exists()


def test_database_down_is_503_with_retry_after_and_the_request_id_is_logged(telegram_channel):
    lines = []
    handler = logging.Handler()
    handler.emit = lambda record: lines.append(json.loads(JsonFormatter().format(record)))
    logger = logging.getLogger("integrations.webhooks")
    logger.addHandler(handler)
    try:
        with database_unreachable():
            status, headers, content = async_to_sync(telegram_post)(
                telegram_channel, load_fixture("telegram", "text.json"), **{"X-Request-ID": "delivery-0001"})
    finally:
        logger.removeHandler(handler)
    assert status == 503 and headers["retry-after"] and json.loads(content)["ok"] is False
    assert headers["x-request-id"] == "delivery-0001"
    assert any(line["request_id"] == "delivery-0001" and "503" in line["message"] for line in lines), lines
    # Telegram delivers it again once the database is back: stored.
    assert async_to_sync(telegram_post)(telegram_channel, load_fixture("telegram", "text.json"))[0] == 200
    assert Message.objects.count() == 1


def test_a_slow_delivery_does_not_hold_up_the_next(telegram_channel, monkeypatch):
    """The first delivery's channel lookup waits until the second delivery is answered: on a
    path that handles one request at a time the second would wait for the first (and fail)."""
    release, calls, lookup = threading.Event(), itertools.count(), webhooks.channel_for_webhook
    first_waiting = threading.Event()

    def slow_first(**kwargs):
        if next(calls) == 0:
            first_waiting.set()
            assert release.wait(20)
        return lookup(**kwargs)

    monkeypatch.setattr(webhooks, "channel_for_webhook", slow_first)
    first_update = load_fixture("telegram", "text.json")
    second_update = {**first_update, "update_id": first_update["update_id"] + 1,
                     "message": {**first_update["message"], "message_id": 212, "text": "second"}}

    async def both():
        first = asyncio.ensure_future(telegram_post(telegram_channel, first_update))
        # The second is posted once the first is held in its lookup (the lookup that waits is
        # then the first delivery's, whichever thread runs faster).
        assert await asyncio.to_thread(first_waiting.wait, 10)
        try:
            second = await asyncio.wait_for(telegram_post(telegram_channel, second_update), 10)
        finally:
            release.set()
        return await first, second

    first, second = async_to_sync(both)()
    assert (first[0], second[0]) == (200, 200)
    assert sorted(Message.objects.values_list("content", flat=True)) == sorted(
        [first_update["message"]["text"], "second"])


def test_the_channel_lookup_is_one_query_and_finds_only_its_own_platform(telegram_channel, instagram_channel,
                                                                           django_assert_num_queries):
    for _ in range(2):  # compiled on the first call, reused on the second
        with django_assert_num_queries(1):
            channel = channel_for_webhook(channel_id=telegram_channel.pk, platform="telegram")
        assert channel == telegram_channel and channel.workspace == telegram_channel.workspace
    with django_assert_num_queries(0):
        assert channel.workspace.name  # joined
    assert channel_for_webhook(channel_id=instagram_channel.pk, platform="telegram") is None
    assert channel_for_webhook(channel_id=instagram_channel.pk, platform="instagram") == instagram_channel
    for channel_id in (telegram_channel.pk + 1000, 2**63, -(2**63) - 1, "x", None):
        assert channel_for_webhook(channel_id=channel_id, platform="telegram") is None
