"""Shared fixtures. Tests run against the servers named by DATABASE_URL / REDIS_URL when set
(CI sets both and REQUIRE_SERVICES=1, where a missing service fails instead of skipping)."""
import os

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model

from tests.factories import make_customer, make_conversation, make_user, make_workspace

REQUIRE_SERVICES = os.environ.get("REQUIRE_SERVICES") == "1"


def pytest_sessionstart(session):
    if not REQUIRE_SERVICES:
        return
    missing = [name for name in ("DATABASE_URL", "REDIS_URL") if not os.environ.get(name)]
    if missing:
        raise pytest.UsageError(f"REQUIRE_SERVICES=1 but {', '.join(missing)} not set")
    import redis

    try:
        redis.Redis.from_url(os.environ["REDIS_URL"], socket_connect_timeout=3).ping()
    except Exception as exc:  # noqa: BLE001
        raise pytest.UsageError(f"REQUIRE_SERVICES=1 but Redis is unreachable: {exc}")
    import psycopg

    try:
        from urllib.parse import urlsplit

        url = urlsplit(os.environ["DATABASE_URL"])
        psycopg.connect(host=url.hostname, port=url.port or 5432, user=url.username or "postgres",
                        dbname="postgres", connect_timeout=3).close()
    except Exception as exc:  # noqa: BLE001
        raise pytest.UsageError(f"REQUIRE_SERVICES=1 but PostgreSQL is unreachable: {exc}")


def require_service(name: str) -> str:
    """The service URL, or skip (fail under REQUIRE_SERVICES=1)."""
    value = os.environ.get(name, "")
    if not value:
        if REQUIRE_SERVICES:
            pytest.fail(f"{name} is required (REQUIRE_SERVICES=1)")
        pytest.skip(f"{name} not set: this test needs the real service")
    return value


@pytest.fixture
def redis_url():
    return require_service("REDIS_URL")


@pytest.fixture(autouse=True)
def _fresh_channel_layer():
    """A new channel-layer instance per test: channels-redis binds its locks and pools to the
    event loop that first used them, and every async test runs on a loop of its own."""
    from channels.layers import channel_layers

    channel_layers.backends.clear()
    yield
    channel_layers.backends.clear()


@pytest.fixture(autouse=True)
def _clean_redis():
    """Each test starts with an empty Redis database (channel layer groups, presence)."""
    if settings.REDIS_URL:
        import redis

        redis.Redis.from_url(settings.REDIS_URL).flushdb()
    yield


@pytest.fixture(autouse=True)
def _clear_cache():
    """Each test starts with an empty Django cache (login-failure counters live there)."""
    from django.core.cache import cache

    cache.clear()
    yield


@pytest.fixture(autouse=True)
def _media_root(tmp_path, settings):
    settings.MEDIA_ROOT = tmp_path / "uploads"
    yield


@pytest.fixture
def platform_sim(settings):
    """Outbound platform calls (setWebhook, getFile, profile lookups, sends) go to a local
    simulator on a free port, never to the internet."""
    from integrations.platform_sim.server import PlatformSim

    sim = PlatformSim().start()
    settings.TELEGRAM_API_BASE = sim.telegram_api_base
    settings.INSTAGRAM_GRAPH_API_BASE = sim.graph_api_base
    settings.PLATFORM_HTTP_TIMEOUT_SECONDS = 5
    yield sim
    sim.stop()


@pytest.fixture
def workspace(db):
    return make_workspace("acme")


@pytest.fixture
def other_workspace(db):
    return make_workspace("rival")


@pytest.fixture
def staff(workspace):
    return make_user("alice", workspace=workspace, role="owner")


@pytest.fixture
def bob(workspace):
    """A second agent of ``workspace``."""
    return make_user("bob", workspace=workspace)


@pytest.fixture
def other_staff(other_workspace):
    return make_user("mallory", workspace=other_workspace, role="owner")


@pytest.fixture
def admin_client(client, workspace):
    """Django's test client signed in to the admin as a superuser owner of ``workspace``."""
    user = make_user("root", workspace=workspace, role="owner")
    user.is_staff = user.is_superuser = True
    user.save()
    client.force_login(user)
    return client


@pytest.fixture
def customer(workspace):
    return make_customer(workspace, first_name="John", last_name="Doe", username="johndoe", source="telegram")


@pytest.fixture
def conversation(workspace, customer):
    return make_conversation(workspace, customer)


class LayerListener:
    """A member of some groups on the real fan-out (fiko/fanout.py): what a socket would get.

    Its calls run on an event loop of its own in a thread, like another server process (with
    Redis it holds a subscription of its own), so it can be drained any number of times.
    """

    def __init__(self, groups):
        import asyncio
        import threading

        from fiko import realtime

        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.groups = list(groups)
        self.queue = self._run(self._make_queue())
        self._run(realtime.join(self, *self.groups))

    async def _make_queue(self):
        import asyncio

        return asyncio.Queue()

    def deliver(self, event, size):
        self.queue.put_nowait(event)

    def fanout_lost(self):
        self.queue.put_nowait({"type": "fanout.lost"})

    def _run(self, coroutine):
        import asyncio

        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result()

    def drain(self, timeout: float = 0.3) -> list[dict]:
        import asyncio

        async def _drain():
            events = []
            while True:
                try:
                    event = await asyncio.wait_for(self.queue.get(), timeout)
                except asyncio.TimeoutError:
                    return events
                events.append({key: value for key, value in event.items() if key != "__frames__"})

        return self._run(_drain())

    def close(self):
        from fiko import fanout, realtime

        async def _close():
            await realtime.leave(self, *self.groups)
            await fanout.hub().aclose()

        self._run(_close())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)
        self.loop.close()


@pytest.fixture
def listen():
    listeners = []

    def make(groups):
        listeners.append(LayerListener(groups))
        return listeners[-1]

    yield make
    for listener in listeners:
        listener.close()


User = get_user_model()
