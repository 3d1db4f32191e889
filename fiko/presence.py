"""Who is online, per workspace and per conversation.

Each open socket registers ``participant`` (its fiko.participants key: "user:5", "customer:9")
under a key ("workspace:1", "conversation:7") with a deadline ``PRESENCE_TTL`` seconds ahead and
renews it every ``HEARTBEAT_SECONDS`` while it lives (all of a process's sockets together: see
``keep_alive``). A participant is online while any of its sockets'
deadlines is in the future, so a process that dies without saying goodbye drops out within
``PRESENCE_TTL`` seconds.

With ``REDIS_URL`` set the registry is a Redis sorted set per key (score = deadline), shared
by every server process, beside a hash per key of participants' display names (so a newcomer
learns who is online, by name, without a database query); otherwise both are in-process dicts
(single-process ``make run``). Entering is one round trip (``enter_and_list``), as is leaving.
"""
import asyncio
import hashlib
import logging
import time

from django.conf import settings

from fiko import log_context, redis_clients

log = logging.getLogger(__name__)

PRESENCE_TTL = 60
HEARTBEAT_SECONDS = 20
RENEW_BATCH = 500  # keys per pipeline when a process renews its sockets
_PREFIX = "fiko:presence:"
_NAMES_PREFIX = "fiko:presence-names:"


def workspace_key(workspace_id: int) -> str:
    return f"workspace:{workspace_id}"


def conversation_key(conversation_id: int) -> str:
    return f"conversation:{conversation_id}"


def _member(participant: str, connection: str) -> str:
    return f"{participant}|{connection}"


def _participants(members) -> set[str]:
    return {(m.decode() if isinstance(m, bytes) else m).split("|", 1)[0] for m in members}


class _MemoryRegistry:
    def __init__(self):
        self.keys: dict[str, dict[str, float]] = {}
        self.names: dict[str, dict[str, str]] = {}

    def add(self, key, member, deadline):
        self.keys.setdefault(key, {})[member] = deadline

    def remove(self, key, member):
        self.keys.get(key, {}).pop(member, None)

    def live(self, key, now):
        entries = self.keys.get(key, {})
        for member in [m for m, deadline in entries.items() if deadline <= now]:
            del entries[member]
        return list(entries)


_memory = _MemoryRegistry()

# enter_and_list on Redis: one command (a script runs atomically, as the MULTI it replaced did)
# instead of seven queued in a transaction, whose replies cost the client more to parse than the
# server took to run them (py-spy, W3: entering presence was a quarter of the handshake).
# KEYS: the key's sorted set, its names hash. ARGV: now, member, deadline, ttl, participant, name.
# Returns {1 if the member is new else 0, every live member, the names hash as a flat list}.
_ENTER = """
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
local added = redis.call('ZADD', KEYS[1], ARGV[3], ARGV[2])
redis.call('EXPIRE', KEYS[1], ARGV[4])
if ARGV[6] ~= '' then
  redis.call('HSET', KEYS[2], ARGV[5], ARGV[6])
  redis.call('EXPIRE', KEYS[2], ARGV[4])
end
return {added, redis.call('ZRANGE', KEYS[1], 0, -1), redis.call('HGETALL', KEYS[2])}
"""
_SHAS: dict[str, str] = {}


async def _run_script(script: str, keys: list, args: list):
    """EVALSHA, loading the script on first use (and again after a Redis restart)."""
    from redis.exceptions import NoScriptError

    client = redis_clients.async_client()
    sha = _SHAS.get(script)
    if sha is None:
        sha = _SHAS[script] = hashlib.sha1(script.encode()).hexdigest()
    try:
        return await client.evalsha(sha, len(keys), *keys, *args)
    except NoScriptError:
        return await client.eval(script, len(keys), *keys, *args)
async def _live_members(key: str) -> list:
    now = time.time()
    if not settings.REDIS_URL:
        return _memory.live(key, now)
    client = redis_clients.async_client()
    async with client.pipeline(transaction=True) as pipe:
        pipe.zremrangebyscore(_PREFIX + key, "-inf", now)
        pipe.zrange(_PREFIX + key, 0, -1)
        _, members = await pipe.execute()
    return members


async def online(key: str) -> set[str]:
    return _participants(await _live_members(key))


async def is_online(key: str, participant: str) -> bool:
    return participant in await online(key)


async def enter(key: str, participant: str, connection: str, name: str = "") -> bool:
    """Register a connection; True when it is the participant's first live one here."""
    first, _ = await enter_and_list(key, participant, connection, name)
    return first


async def enter_and_list(key: str, participant: str, connection: str, name: str = "") -> tuple[bool, dict[str, str | None]]:
    """Register a connection and read who else is here, in one round trip (one script).

    Returns (True when it is the participant's first live connection here, {every other live
    participant: the name it entered with, or None when it gave none}). ``name`` is kept for
    the others' benefit: the next newcomer reads it instead of querying the database."""
    now = time.time()
    member = _member(participant, connection)
    if not settings.REDIS_URL:
        live = _memory.live(key, now)
        was_here = member in live
        if not live:  # like the Redis hash, names go when nobody has been here for a while
            _memory.names.pop(key, None)
        _memory.add(key, member, now + PRESENCE_TTL)
        if name:
            _memory.names.setdefault(key, {})[participant] = name
        members, names = _memory.live(key, now), _memory.names.get(key, {})
    else:
        added, members, flat_names = await _run_script(
            _ENTER, [_PREFIX + key, _NAMES_PREFIX + key],
            [now, member, now + PRESENCE_TTL, PRESENCE_TTL * 2, participant, name])
        was_here = not added
        names = {flat_names[i].decode(): flat_names[i + 1].decode() for i in range(0, len(flat_names), 2)}
    first, others = not was_here, {}
    for entry in members:
        entry = entry.decode() if isinstance(entry, bytes) else entry
        who, _, conn = entry.partition("|")
        if who == participant:
            first = first and conn == connection
        else:
            others[who] = names.get(who)
    return first, others


async def renew_many(registrations) -> None:
    """Push the deadline of each (keys, participant, connection) ``PRESENCE_TTL`` seconds
    ahead: per key one ZADD of all its members and its two EXPIREs, one round trip per
    ``RENEW_BATCH`` keys."""
    deadline = time.time() + PRESENCE_TTL
    members_by_key: dict[str, dict[str, float]] = {}
    for keys, participant, connection in registrations:
        for key in keys:
            members_by_key.setdefault(key, {})[_member(participant, connection)] = deadline
    if not settings.REDIS_URL:
        for key, members in members_by_key.items():
            for member in members:
                _memory.add(key, member, deadline)
        return
    client = redis_clients.async_client()
    keys = list(members_by_key)
    for start in range(0, len(keys), RENEW_BATCH):
        async with client.pipeline(transaction=False) as pipe:
            for key in keys[start:start + RENEW_BATCH]:
                pipe.zadd(_PREFIX + key, members_by_key[key])
                pipe.expire(_PREFIX + key, PRESENCE_TTL * 2)
                pipe.expire(_NAMES_PREFIX + key, PRESENCE_TTL * 2)  # the names live as long as the set
            await pipe.execute()


# --- the process's heartbeat ------------------------------------------------------------------
class _Heartbeat:
    """The registrations of one event loop's sockets, renewed together every
    ``HEARTBEAT_SECONDS`` by one task: a round trip per ``RENEW_BATCH`` keys instead of a
    timer, a task and a round trip per socket (1,000 sockets renewing one by one cost a sixth
    of the server's CPU in the W1 profile; Phoenix Presence also beats per node)."""

    def __init__(self):
        # connection -> (keys, participant, is_live)
        self.registrations: dict[str, tuple[list[str], str, object]] = {}
        self.task: asyncio.Task | None = None

    async def run(self):
        while self.registrations:
            await asyncio.sleep(HEARTBEAT_SECONDS)
            live = []
            for connection, (keys, participant, is_live) in list(self.registrations.items()):
                if is_live():
                    live.append((keys, participant, connection))
                else:  # closing: its entries are left to expire or to its own leave
                    del self.registrations[connection]
            try:
                await renew_many(live)
            except Exception:
                log.exception("presence heartbeat failed")


_heartbeats: dict = {}  # event loop -> _Heartbeat


def keep_alive(connection: str, keys: list[str], participant: str, is_live) -> None:
    """Renew ``participant``'s registrations for ``connection`` under ``keys`` (the socket's
    own list: keys it enters or leaves later are followed) until ``stop_keeping_alive`` or
    until ``is_live()`` says the socket is closing."""
    loop = asyncio.get_running_loop()
    beat = _heartbeats.get(loop)
    if beat is None:
        for old in [old for old in _heartbeats if old.is_closed()]:
            del _heartbeats[old]
        beat = _heartbeats[loop] = _Heartbeat()
    beat.registrations[connection] = (keys, participant, is_live)
    if beat.task is None or beat.task.done():
        beat.task = loop.create_task(beat.run(), context=log_context.unbound())


def stop_keeping_alive(connection: str) -> None:
    beat = _heartbeats.get(asyncio.get_running_loop())
    if beat is None:
        return
    beat.registrations.pop(connection, None)
    if not beat.registrations and beat.task is not None:
        beat.task.cancel()  # nothing left to renew (and no task left pending when a loop ends)
        beat.task = None


async def leave(key: str, participant: str, connection: str) -> bool:
    """Unregister a connection; True when the participant has no live connection left here."""
    member = _member(participant, connection)
    if not settings.REDIS_URL:
        _memory.remove(key, member)
        return participant not in _participants(_memory.live(key, time.time()))
    async with redis_clients.async_client().pipeline(transaction=True) as pipe:  # one round trip
        pipe.zrem(_PREFIX + key, member)
        pipe.zremrangebyscore(_PREFIX + key, "-inf", time.time())
        pipe.zrange(_PREFIX + key, 0, -1)
        *_, members = await pipe.execute()
    return participant not in _participants(members)


def online_many(keys: list[str]) -> dict[str, set[str]]:
    """Synchronous read for REST answers: one round trip for all keys."""
    now = time.time()
    if not settings.REDIS_URL:
        return {key: _participants(_memory.live(key, now)) for key in keys}
    if not keys:
        return {}
    with redis_clients.sync_client().pipeline(transaction=False) as pipe:
        for key in keys:
            pipe.zrangebyscore(_PREFIX + key, now, "+inf")
        results = pipe.execute()
    return {key: _participants(members) for key, members in zip(keys, results)}
