"""Platform tests: the local platform simulator (integrations/platform_sim) is a real HTTP peer
on a free port; settings point TELEGRAM_API_BASE / INSTAGRAM_GRAPH_API_BASE at it."""
import json
import socket
import threading
from contextlib import contextmanager
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection, connections
from django.test import Client

from integrations.instagram.views import SIGNATURE_HEADER, signature_for
from integrations.models import Channel
from integrations.telegram.views import SECRET_HEADER
from tests.factories import make_conversation, make_customer

HERE = Path(__file__).parent
BOT_TOKEN = "6123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw8"
TELEGRAM_CUSTOMER_ID = "385720164"
IG_ACCOUNT_ID = "17841405822304914"
IG_CUSTOMER_ID = "6729184650193842"
IG_ACCESS_TOKEN = "IGQWRPcG9fZAk1zSEJYZA2ZAEZAF9sb0ZAqMmtSa0tKZAXdMSU0wc2"


@pytest.fixture
def platform(platform_sim):
    return platform_sim


@pytest.fixture
def telegram_channel(workspace):
    return Channel.objects.create(workspace=workspace, platform="telegram", name="@fiko_shop_bot",
                                  bot_token=BOT_TOKEN, webhook_secret="s3cr3t-Webhook_token-0123456789")


@pytest.fixture
def instagram_channel(workspace):
    return Channel.objects.create(workspace=workspace, platform="instagram", name="fiko.shop", ig_id=IG_ACCOUNT_ID,
                                  access_token=IG_ACCESS_TOKEN, app_secret="9f8e7d6c5b4a39281706f5e4d3c2b1a0",
                                  verify_token="verify-me-please")


@pytest.fixture
def tg_conversation(workspace, telegram_channel):
    customer = make_customer(workspace, source="telegram", external_id=TELEGRAM_CUSTOMER_ID, first_name="Sara")
    return make_conversation(workspace, customer, channel=telegram_channel)


@pytest.fixture
def ig_conversation(workspace, instagram_channel):
    customer = make_customer(workspace, source="instagram", external_id=IG_CUSTOMER_ID, first_name="Leila")
    return make_conversation(workspace, customer, channel=instagram_channel)


def load_fixture(platform: str, name: str, **replacements) -> dict:
    """A JSON fixture; ``{KEY}`` placeholders in strings are replaced (e.g. SIM = simulator URL)."""
    text = (HERE / platform / "fixtures" / name).read_text()
    for key, value in replacements.items():
        text = text.replace("{" + key + "}", str(value))
    return json.loads(text)


def post_telegram(channel, payload, *, secret: str | None = None, client: Client | None = None, raw: bytes | None = None):
    headers = {} if secret == "" else {SECRET_HEADER: channel.webhook_secret if secret is None else secret}
    body = raw if raw is not None else json.dumps(payload).encode()
    return (client or Client()).post(f"/integrations/telegram/{channel.pk}/webhook/", data=body,
                                     content_type="application/json", headers=headers)


def post_instagram(channel, payload, *, signature: str | None = None, client: Client | None = None,
                   raw: bytes | None = None):
    body = raw if raw is not None else json.dumps(payload).encode()
    headers = {} if signature == "" else {SIGNATURE_HEADER: signature or signature_for(body, channel.app_secret)}
    return (client or Client()).post(f"/integrations/instagram/{channel.pk}/webhook/", data=body,
                                     content_type="application/json", headers=headers)


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def close_database_thread_connections():
    """Close the connection each database thread (fiko/db.py) holds, as production does after
    every call. Channels' test communicator turns that closing off while it waits
    (``channels.db.close_old_connections`` becomes a no-op), so in a socket test a database
    thread keeps the connection it last used, checked out of the pool, and would go on
    answering through an outage. One task per thread: each waits at a barrier until every
    thread holds one, so no thread runs two."""
    from fiko.db import executor

    barrier = threading.Barrier(settings.DB_THREADS)

    def close_this_threads_connections():
        connections.close_all()
        barrier.wait(timeout=10)

    for done in [executor().submit(close_this_threads_connections) for _ in range(settings.DB_THREADS)]:
        done.result(timeout=15)


@contextmanager
def database_unreachable():
    """Point the default connection at a database that is not there (a closed port; for SQLite a
    file that cannot be opened): the ORM raises OperationalError, as when the server is down.
    Every thread's connection shares this settings dict, so the webhook's ORM calls on the
    database threads (fiko/db.py) see it too; on PostgreSQL the connection pool is closed, so
    its next connection is opened, and fails, against the closed port within a second."""
    saved = dict(connection.settings_dict)
    pooled = bool(connection.settings_dict.get("OPTIONS", {}).get("pool"))
    connection.close()
    close_database_thread_connections()
    if pooled:
        connection.close_pool()
        options = saved["OPTIONS"]
        connection.settings_dict["OPTIONS"] = {**options, "pool": {**options["pool"], "min_size": 0, "timeout": 1}}
    if connection.vendor == "sqlite":
        connection.settings_dict["NAME"] = "/nonexistent-directory/fiko.sqlite3"
    else:
        connection.settings_dict.update({"HOST": "127.0.0.1", "PORT": closed_port()})
    try:
        yield
    finally:
        connection.close()
        if pooled:
            connection.close_pool()
        connection.settings_dict.clear()
        connection.settings_dict.update(saved)
