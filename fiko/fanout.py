"""Fan-out per process: one Redis subscription per group per process, local delivery in memory.

channels-redis ``group_send`` writes one list entry per member of a group and every socket
reads its own copy: ten sockets in a conversation cost ten Redis writes, ten reads and ten
decodes of the same event. Here, as in Phoenix.PubSub and the Socket.IO Redis adapter, a
publish is one ``PUBLISH`` per group; each process that has local members of the group holds
one subscription to it (on one pub/sub connection per event loop), decodes the event once and
hands the same object to each local member's ``deliver``, which never blocks (it queues; see
``fiko/consumers.py``). Without ``REDIS_URL`` (``make run``) a publish is handed to the hubs of
this process directly.

A member is any object with ``deliver(event: dict, size: int)`` and ``fanout_lost()``. Joining
waits until Redis has confirmed the subscription, so a member that joins and then reads the
database cannot miss an event published after that read.

Sockets that join a group around the same time can share one read of its state
(``Hub.shared_read``: the chat handshake's ``recent_messages``): the read is shared while no
event that changes it has reached the group since the read began, and a socket that takes it
first waits (``Hub.catch_up``) until this process has heard every event published before it
asked, so what it gets is as fresh as its own read would have been, up to a short age bound
for what changes without an event to the group.

Pub/sub delivers at most once. If a process's pub/sub connection breaks (Redis restarted),
events published meanwhile are gone for its members, so each member is told (``fanout_lost``:
sockets close with ``unavailable``/1011) and its client reconnects and catches up by ``seq``.
Redis stays the truth for membership across processes; PostgreSQL for messages.
"""
import asyncio
import collections
import itertools
import logging
import threading

import orjson
from django.conf import settings

from fiko import log_context, redis_clients

log = logging.getLogger(__name__)

def _channel_prefix() -> str:
    """Pub/sub channels are global to a Redis server, not per database number: the number is
    part of the name, so deployments (and test runs) on other databases never hear ours."""
    from urllib.parse import urlsplit

    path = urlsplit(settings.REDIS_URL or "").path.strip("/") or "0"
    return f"fiko:{path}:group:"


CHANNEL_PREFIX = _channel_prefix()
SUBSCRIBE_TIMEOUT_SECONDS = 10


class FanoutUnavailable(Exception):
    """The pub/sub connection could not be set up or broke while joining."""


def encode(event: dict) -> bytes:
    return orjson.dumps(event, default=str)


class SharedRead:
    """One read of a group's state that the sockets of one event loop joining the group share.

    The socket that starts it (``Hub.shared_read`` answered ``mine``) reads and ``offer``s the
    result, or None when it has nothing to share (refused, failed); the others wait for it in
    ``value``. It goes ``stale`` as soon as the group hears an event whose type is not in
    ``kept_by``, loses its last local member or its subscription."""
    __slots__ = ("started_at", "kept_by", "stale", "_result")

    def __init__(self, loop: asyncio.AbstractEventLoop, kept_by: frozenset):
        self.started_at = loop.time()
        self.kept_by = kept_by
        self.stale = False
        self._result = loop.create_future()

    def offer(self, value) -> None:
        if not self._result.done():
            self._result.set_result(value)

    async def value(self):
        """The shared result, or None when there is none to take (stale, or nothing offered)."""
        value = await asyncio.shield(self._result)
        return None if self.stale else value


class Hub:
    """The members of one event loop's sockets, by group, and that loop's subscription."""

    def __init__(self, loop: asyncio.AbstractEventLoop):
        self.loop = loop
        self.members: dict[str, set] = {}
        self._subscribed: dict[str, asyncio.Future] = {}  # group -> confirmation of its SUBSCRIBE
        self._confirmations: dict[bytes, collections.deque] = {}  # channel -> futures, command order
        self._lock = asyncio.Lock()  # (un)subscribe commands, in order, one at a time
        self._redis = None
        self._pubsub = None
        self._reader: asyncio.Task | None = None
        self._shared: dict[str, dict[str, SharedRead]] = {}  # group -> name -> the read its sockets share
        self._catching_up: list[asyncio.Future] = []  # catch_up callers waiting for the next PING
        self._ping: tuple[bytes, list[asyncio.Future]] | None = None  # the PING sent, and who waits for it
        self._ping_ids = itertools.count(1)

    # --- membership --------------------------------------------------------------------------
    async def join(self, group: str, member) -> None:
        self.members.setdefault(group, set()).add(member)
        if not settings.REDIS_URL:
            return
        confirmed = self._subscribed.get(group)
        if confirmed is not None and confirmed.done() and not confirmed.cancelled() and confirmed.exception() is None:
            return  # this process already hears the group: nothing to wait for
        if confirmed is None:
            confirmed = self._subscribed[group] = self.loop.create_future()
            try:
                async with self._lock:
                    await self._send_subscribe(group, confirmed)
            except Exception as exc:
                self._subscribed.pop(group, None)
                if not confirmed.done():
                    confirmed.set_exception(FanoutUnavailable(str(exc)))
        try:
            await asyncio.wait_for(asyncio.shield(confirmed), SUBSCRIBE_TIMEOUT_SECONDS)
        except (Exception, asyncio.TimeoutError) as exc:
            if self._discard(group, member) and self._subscribed.get(group) is confirmed:
                del self._subscribed[group]  # the next joiner subscribes afresh, not on this failure
            raise FanoutUnavailable(f"could not subscribe to {group}: {exc!r}") from exc

    async def leave(self, group: str, member) -> None:
        if not self._discard(group, member) or not settings.REDIS_URL:
            return
        async with self._lock:
            if self.members.get(group) or group not in self._subscribed:
                return  # someone joined again meanwhile, or the subscription is already gone
            del self._subscribed[group]
            if not self._subscribed and not self._confirmations:
                await self._close_subscription()  # nothing left to hear: no idle reader task
                return
            try:
                await self._pubsub.unsubscribe(CHANNEL_PREFIX + group)
            except Exception:  # the connection is gone; the reader notices and resets
                log.warning("unsubscribe from %s failed", group, exc_info=True)

    async def _close_subscription(self) -> None:
        self._fail_catch_ups()
        reader, pubsub, client = self._reader, self._pubsub, self._redis
        self._reader = self._pubsub = self._redis = None
        if reader is not None:
            reader.cancel()
            await asyncio.wait([reader])
        for each in (pubsub, client):
            if each is not None:
                try:
                    await each.aclose()
                except Exception:
                    log.warning("closing the event subscription failed", exc_info=True)

    def _discard(self, group: str, member) -> bool:
        """Remove ``member``; True when the group has no local member left."""
        members = self.members.get(group)
        if members is None:
            return False
        members.discard(member)
        if members:
            return False
        del self.members[group]
        self._drop_shared(group)  # nothing hears the group now: what was read about it can go stale unseen
        return True

    # --- reads shared by the sockets joining a group -------------------------------------------
    def shared_read(self, group: str, name: str, *, max_age: float, kept_by: frozenset) -> tuple[SharedRead, bool]:
        """The read ``name`` of ``group``'s state that this loop's members share: (the read, True
        when the caller is to make it and ``offer`` its result). For a member of ``group``: a
        read made, or begun, less than ``max_age`` seconds ago that no event has made stale is
        shared; otherwise the caller makes a new one. A member that takes a shared read calls
        ``catch_up`` before it trusts it (``stale`` is then final for what was published
        before it asked)."""
        if max_age <= 0 or group not in self.members:  # sharing off, or no event here would tell it is stale
            return SharedRead(self.loop, kept_by), True
        reads = self._shared.setdefault(group, {})
        read = reads.get(name)
        if read is not None and not read.stale and self.loop.time() - read.started_at < max_age:
            return read, False
        read = reads[name] = SharedRead(self.loop, kept_by)
        self.loop.call_later(max_age, self._forget_shared, group, name, read)  # its frame is not held longer
        return read, True

    def _forget_shared(self, group: str, name: str, read: SharedRead) -> None:
        reads = self._shared.get(group)
        if reads is not None and reads.get(name) is read:
            del reads[name]
            if not reads:
                del self._shared[group]

    def _drop_shared(self, group: str, event_type: str | None = None) -> None:
        """Reads of ``group`` go stale: every one (``event_type`` None), or those the event changes."""
        reads = self._shared.get(group)
        if not reads:
            return
        for name, read in list(reads.items()):
            if event_type is None or event_type not in read.kept_by:
                read.stale = True
                del reads[name]
        if not reads:
            del self._shared[group]

    def _drop_all_shared(self) -> None:
        for group in list(self._shared):
            self._drop_shared(group)

    async def catch_up(self) -> None:
        """Return once this loop has dispatched every event published before the call.

        In process, a publish schedules its dispatch on this loop before it returns, so one turn
        of the loop's queue is enough. With Redis, a PING on the subscription's connection comes
        back after every message published before Redis ran it; callers that ask while a PING
        is out wait for the next one (one PING per burst of callers, not one each)."""
        waiter = self.loop.create_future()
        if not settings.REDIS_URL:
            self.loop.call_soon(waiter.set_result, None)
            return await waiter
        if self._pubsub is None:
            raise FanoutUnavailable("no subscription to catch up with")
        self._catching_up.append(waiter)
        if self._ping is None:
            self._send_ping()
        try:
            await asyncio.wait_for(asyncio.shield(waiter), SUBSCRIBE_TIMEOUT_SECONDS)
        except asyncio.TimeoutError as exc:
            raise FanoutUnavailable("the event subscription did not answer a PING") from exc

    def _send_ping(self) -> None:
        ping_id = b"fiko-catch-up-%d" % next(self._ping_ids)
        self._ping, self._catching_up = (ping_id, self._catching_up), []
        self.loop.create_task(self._write_ping(self._pubsub, ping_id), context=log_context.unbound())

    async def _write_ping(self, pubsub, ping_id: bytes) -> None:
        try:
            await pubsub.ping(ping_id)
        except Exception:  # its callers are told now, not at their timeout
            log.warning("PING on the event subscription failed", exc_info=True)
            self._ping_answered(ping_id, FanoutUnavailable("PING on the event subscription failed"))

    def _ping_answered(self, ping_id: bytes, error: Exception | None = None) -> None:
        """The PING ``ping_id`` came back (or could not be sent: ``error``): its callers are
        answered, and those who asked meanwhile get the next PING."""
        if self._ping is None or self._ping[0] != ping_id:
            return
        (_, waiters), self._ping = self._ping, None
        _settle(waiters, error)
        if self._catching_up and self._pubsub is not None:
            self._send_ping()

    def _fail_catch_ups(self) -> None:
        waiters = self._catching_up + (self._ping[1] if self._ping else [])
        self._catching_up, self._ping = [], None
        _settle(waiters, FanoutUnavailable("subscription lost"))

    # --- delivery ------------------------------------------------------------------------------
    def dispatch(self, group: str, data: bytes) -> None:
        members = self.members.get(group)
        if not members:
            return
        try:
            event = orjson.loads(data)
        except orjson.JSONDecodeError:
            log.error("undecodable event on %s dropped", group)
            return
        if group in self._shared:
            self._drop_shared(group, event.get("type") if isinstance(event, dict) else None)
        size = len(data)
        for member in tuple(members):
            try:
                member.deliver(event, size)
            except Exception:
                log.exception("delivering %s to a member of %s failed", event.get("type"), group)

    # --- Redis ---------------------------------------------------------------------------------
    async def _send_subscribe(self, group: str, confirmed: asyncio.Future) -> None:
        channel = (CHANNEL_PREFIX + group).encode()
        if self._pubsub is None:
            import redis.asyncio as aioredis
            from redis.asyncio.retry import Retry
            from redis.backoff import NoBackoff

            # No silent reconnects: a reconnect would resubscribe and hide the events lost in
            # between; the reader notices the broken connection and tells the members instead.
            self._redis = aioredis.Redis.from_url(
                settings.REDIS_URL, retry=Retry(NoBackoff(), 0), socket_connect_timeout=5,
                socket_keepalive=True, health_check_interval=0)
            self._pubsub = self._redis.pubsub()
        self._confirmations.setdefault(channel, collections.deque()).append(confirmed)
        try:
            await self._pubsub.subscribe(channel)
        except Exception:
            self._confirmations[channel].remove(confirmed)
            raise
        if self._reader is None:
            self._reader = self.loop.create_task(self._read(), context=log_context.unbound())

    async def _read(self) -> None:
        pubsub = self._pubsub
        try:
            while True:
                message = await pubsub.get_message(timeout=None)
                if message is None:
                    continue
                kind, channel = message["type"], message["channel"]
                if kind == "message":
                    self.dispatch(channel[len(CHANNEL_PREFIX):].decode(), message["data"])
                elif kind == "pong":
                    self._ping_answered(message["data"])
                elif kind == "subscribe":
                    waiting = self._confirmations.get(channel)
                    if waiting:
                        future = waiting.popleft()
                        if not future.done():
                            future.set_result(True)
                        if not waiting:
                            del self._confirmations[channel]
        except asyncio.CancelledError:
            raise
        except Exception:
            log.warning("event subscription lost; closing this process's sockets so they catch up",
                        exc_info=True)
            await self._lost(pubsub)

    async def aclose(self) -> None:
        """Drop this loop's subscription and clients (a loop that is about to end)."""
        await self._close_subscription()
        await redis_clients.aclose_async_client()
        self._drop_all_shared()
        self.members, self._subscribed, self._confirmations = {}, {}, {}

    async def _lost(self, pubsub) -> None:
        members = {member for group_members in self.members.values() for member in group_members}
        for waiting in self._confirmations.values():
            for future in waiting:
                if not future.done():
                    future.set_exception(FanoutUnavailable("subscription lost"))
        self._drop_all_shared()
        self._fail_catch_ups()
        self.members, self._subscribed, self._confirmations = {}, {}, {}
        self._pubsub = self._reader = None
        redis_client, self._redis = self._redis, None
        for member in members:
            try:
                member.fanout_lost()
            except Exception:
                log.exception("telling a member about the lost subscription failed")
        try:
            await pubsub.aclose()
            await redis_client.aclose()
        except Exception:
            pass


def _settle(waiters: list[asyncio.Future], error: Exception | None) -> None:
    for waiter in waiters:
        if not waiter.done():
            if error is None:
                waiter.set_result(None)
            else:
                waiter.set_exception(error)


# --- hubs and publishers, per process --------------------------------------------------------
_hubs: dict[asyncio.AbstractEventLoop, Hub] = {}
_hubs_lock = threading.Lock()


def hub() -> Hub:
    """This event loop's hub."""
    loop = asyncio.get_running_loop()
    found = _hubs.get(loop)
    if found is None:
        with _hubs_lock:
            for old in [old for old in _hubs if old.is_closed()]:
                del _hubs[old]
            found = _hubs[loop] = Hub(loop)
    return found


def _deliver_in_process(groups: list[str], data: bytes) -> None:
    for loop, local in list(_hubs.items()):
        if loop.is_closed():
            continue
        for group in groups:
            if group in local.members:
                loop.call_soon_threadsafe(local.dispatch, group, data, context=log_context.unbound())


def publish(groups: list[str], event: dict) -> None:
    """From synchronous code (any thread): the event, encoded once, to every process."""
    data = encode(event)
    if not settings.REDIS_URL:
        return _deliver_in_process(groups, data)
    with redis_clients.sync_client().pipeline(transaction=False) as pipe:
        for group in groups:
            pipe.publish(CHANNEL_PREFIX + group, data)
        pipe.execute()


async def publish_async(groups: list[str], event: dict) -> None:
    """From async code: the same, without blocking the event loop."""
    data = encode(event)
    if not settings.REDIS_URL:
        return _deliver_in_process(groups, data)
    async with redis_clients.async_client().pipeline(transaction=False) as pipe:
        for group in groups:
            pipe.publish(CHANNEL_PREFIX + group, data)
        await pipe.execute()
