"""Presence across processes: two independent Redis clients (as two server processes would
have) see the same registry; a dead process's entries expire. Entering, with who else is here
and their names, is one Redis round trip."""
import asyncio

import pytest

from fiko import presence, redis_clients


@pytest.fixture
def redis_presence(redis_url, settings):
    settings.REDIS_URL = redis_url
    redis_clients.forget()
    yield
    redis_clients.forget()


async def test_presence_is_shared_across_processes(redis_presence):
    key = presence.conversation_key(1)
    first = await presence.enter(key, "user:1", "process-a.chan1")
    assert first is True
    # "another process": a fresh client (new event-loop-bound connection pool)
    redis_clients.forget()
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
    await asyncio.gather(*(presence.renew_many([([key], who, chan)]) for who, chan in sockets))
    assert len(await presence.online(key)) == 1000
    results = await asyncio.gather(*(presence.leave(key, who, chan) for who, chan in sockets),
                                   return_exceptions=True)
    errors = [r for r in results if isinstance(r, BaseException)]
    assert not errors, f"{len(errors)} leaves failed, e.g. {errors[0]!r}"
    assert all(results)
    assert await presence.online(key) == set()


@pytest.fixture
def redis_round_trips(monkeypatch):
    """Commands (or pipelines) sent to Redis by the async client: one per round trip."""
    import redis.asyncio.connection as connection

    count, original = [0], connection.AbstractConnection.send_packed_command

    async def send_packed_command(self, command, check_health=True):
        count[0] += 1
        return await original(self, command, check_health)

    monkeypatch.setattr(connection.AbstractConnection, "send_packed_command", send_packed_command)
    return count


async def _enter_and_list_rules(key):
    assert await presence.enter_and_list(key, "user:1", "a.chan1", "alice") == (True, {})
    assert await presence.enter_and_list(key, "customer:5", "b.chan2") == (True, {"user:1": "alice"})
    # a second tab: not first; the others with their names (None: entered without one)
    assert await presence.enter_and_list(key, "user:1", "b.chan3", "alice") == (False, {"customer:5": None})
    # the same connection entering again is not a newcomer either
    assert await presence.enter_and_list(key, "customer:5", "b.chan2") == (False, {"user:1": "alice"})
    assert await presence.enter_and_list(key, "user:2", "a.chan4", "bob") == (
        True, {"user:1": "alice", "customer:5": None})
    assert await presence.online(key) == {"user:1", "user:2", "customer:5"}


async def test_enter_and_list_is_one_round_trip(redis_presence, redis_round_trips):
    key = presence.conversation_key(5)
    await presence.online(key)  # the pool's first connection (its handshake) is not counted
    redis_round_trips[0] = 0
    await _enter_and_list_rules(key)
    assert redis_round_trips[0] == 5 + 1  # five entries, one read at the end


async def test_enter_and_list_in_memory(settings):
    settings.REDIS_URL = ""
    presence._memory.keys.clear()
    await _enter_and_list_rules(presence.conversation_key(6))


async def test_names_expire_with_the_registry(redis_presence, monkeypatch):
    monkeypatch.setattr(presence, "PRESENCE_TTL", 1)
    key = presence.conversation_key(8)
    await presence.enter_and_list(key, "user:1", "a.chan1", "alice")
    await asyncio.sleep(2.2)  # nobody renewed: the set and the names are gone (expiry: 2 x TTL)
    assert await presence.enter_and_list(key, "user:2", "a.chan2", "bob") == (True, {})
    import redis
    from django.conf import settings

    assert redis.Redis.from_url(settings.REDIS_URL).hgetall("fiko:presence-names:" + key) == {b"user:2": b"bob"}


async def test_one_heartbeat_renews_every_socket_of_the_process(redis_presence, redis_round_trips, monkeypatch):
    """A process renews its sockets' presence together: one round trip per beat for all of
    them, not one per socket; a socket no longer kept alive (closed, or closing) expires."""
    monkeypatch.setattr(presence, "PRESENCE_TTL", 2)  # 60 s in production
    monkeypatch.setattr(presence, "HEARTBEAT_SECONDS", 0.25)  # 20 s in production
    key = presence.conversation_key(41)
    closing = {"process.chan1"}
    for n in range(50):
        await presence.enter(key, f"user:{n}", f"process.chan{n}")
        presence.keep_alive(f"process.chan{n}", [key], f"user:{n}", lambda chan=f"process.chan{n}": chan not in closing)
    presence.stop_keeping_alive("process.chan0")
    redis_round_trips[0] = 0
    await asyncio.sleep(2.5)  # past the TTL: only the heartbeat keeps an entry alive
    beats = redis_round_trips[0]
    online = await presence.online(key)
    assert online == {f"user:{n}" for n in range(2, 50)}
    assert 1 <= beats <= 2.5 / 0.25 + 1, beats  # a round trip per beat, whatever the number of sockets
    for n in range(2, 50):
        presence.stop_keeping_alive(f"process.chan{n}")
    heartbeat = presence._heartbeats[asyncio.get_running_loop()]  # noqa: SLF001
    assert heartbeat.registrations == {} and heartbeat.task is None  # nothing left pending


async def test_entering_works_after_redis_forgot_its_scripts(redis_presence):
    """Entering runs a script by its hash; a Redis that restarted (or flushed its scripts) has
    none, and the next newcomer still enters and sees who is here."""
    key = presence.conversation_key(42)
    await presence.enter_and_list(key, "user:1", "proc.a", "alice")
    await redis_clients.async_client().script_flush()
    first, others = await presence.enter_and_list(key, "user:2", "proc.b", "bob")
    assert first is True and others == {"user:1": "alice"}
    assert await presence.online(key) == {"user:1", "user:2"}
