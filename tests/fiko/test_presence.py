"""Presence across processes: two independent Redis clients (as two server processes would
have) see the same registry; a dead process's entries expire."""
import asyncio

import pytest

from fiko import presence


@pytest.fixture
def redis_presence(redis_url, settings):
    settings.REDIS_URL = redis_url
    presence._async_clients.clear()
    presence._sync_client = None
    yield
    presence._async_clients.clear()
    presence._sync_client = None


async def test_presence_is_shared_across_processes(redis_presence):
    key = presence.conversation_key(1)
    first = await presence.enter(key, "user:1", "process-a.chan1")
    assert first is True
    # "another process": a fresh client (new event-loop-bound connection pool)
    presence._async_clients.clear()
    assert await presence.online(key) == {"user:1"}
    again = await presence.enter(key, "user:1", "process-b.chan9")  # second tab elsewhere
    assert again is False
    await presence.enter(key, "customer:5", "process-b.chan10")
    assert presence.online_many([key]) == {key: {"user:1", "customer:5"}}
    assert await presence.leave(key, "user:1", "process-a.chan1") is False  # still online in b
    assert await presence.leave(key, "user:1", "process-b.chan9") is True
    assert await presence.online(key) == {"customer:5"}


async def test_entries_of_a_dead_process_expire(redis_presence, monkeypatch):
    monkeypatch.setattr(presence, "PRESENCE_TTL", 1)  # 60 s in production; 1 s keeps the test short
    key = presence.workspace_key(3)
    await presence.enter(key, "user:8", "dead-process.chan")
    assert await presence.is_online(key, "user:8")
    # The process dies: no heartbeat renews the entry, and after the TTL it is gone.
    await asyncio.sleep(1.2)
    assert await presence.online(key) == set()
    assert presence.online_many([key]) == {key: set()}


async def test_in_memory_registry_without_redis(settings):
    settings.REDIS_URL = ""
    key = presence.conversation_key(99)
    assert await presence.enter(key, "user:2", "c1") is True
    assert await presence.online(key) == {"user:2"}
    assert await presence.leave(key, "user:2", "c1") is True
    await asyncio.sleep(0)
    assert await presence.online(key) == set()


async def test_a_thousand_sockets_closing_at_once_all_leave(redis_presence):
    """A load balancer restart closes every socket at once: each one's presence cleanup must
    succeed (the client waits for a pooled connection instead of raising
    MaxConnectionsError), so no entry lingers until its TTL."""
    key = presence.conversation_key(77)
    sockets = [(f"user:{n}", f"process.chan{n}") for n in range(1000)]
    await asyncio.gather(*(presence.renew([key], who, chan) for who, chan in sockets))
    assert len(await presence.online(key)) == 1000
    results = await asyncio.gather(*(presence.leave(key, who, chan) for who, chan in sockets),
                                   return_exceptions=True)
    errors = [r for r in results if isinstance(r, BaseException)]
    assert not errors, f"{len(errors)} leaves failed, e.g. {errors[0]!r}"
    assert all(results)
    assert await presence.online(key) == set()
