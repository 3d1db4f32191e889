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

Pub/sub delivers at most once. If a process's pub/sub connection breaks (Redis restarted),
events published meanwhile are gone for its members, so each member is told (``fanout_lost``:
sockets close with ``unavailable``/1011) and its client reconnects and catches up by ``seq``.
Redis stays the truth for membership across processes; PostgreSQL for messages.
"""
import asyncio
import collections
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
        return True

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
        self.members, self._subscribed, self._confirmations = {}, {}, {}

    async def _lost(self, pubsub) -> None:
        members = {member for group_members in self.members.values() for member in group_members}
        for waiting in self._confirmations.values():
            for future in waiting:
                if not future.done():
                    future.set_exception(FanoutUnavailable("subscription lost"))
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
