"""The process's Redis clients for commands (presence, publishing events), made in one place.

One async client per event loop (redis-py binds its connections to the loop that made them),
on a blocking pool: when every connection is busy (1,000 sockets closing at once) a command
waits for one instead of failing with MaxConnectionsError. ``timeout=None``: no timer armed and
cancelled around every command (at thousands of handshakes a second that showed in the
profile); a wait for a free connection is bounded by the commands in flight, each bounded by
``socket_timeout``. One synchronous client for code that runs in threads.

The fan-out's subscription is not here: it is one dedicated connection per loop that must
never reconnect silently (fiko/fanout.py).
"""
import asyncio

from django.conf import settings

SOCKET_TIMEOUT_SECONDS = 10

_async_clients: dict = {}  # event loop -> client
_sync_client = None


def async_client():
    """This event loop's client."""
    import redis.asyncio as aioredis

    loop = asyncio.get_running_loop()
    client = _async_clients.get(loop)
    if client is None:
        for old in [old for old in _async_clients if old.is_closed()]:
            del _async_clients[old]
        pool = aioredis.BlockingConnectionPool.from_url(
            settings.REDIS_URL, max_connections=settings.PRESENCE_REDIS_MAX_CONNECTIONS, timeout=None,
            socket_timeout=SOCKET_TIMEOUT_SECONDS, socket_connect_timeout=SOCKET_TIMEOUT_SECONDS)
        client = _async_clients[loop] = aioredis.Redis(connection_pool=pool)
    return client


def sync_client():
    import redis

    global _sync_client
    if _sync_client is None:
        _sync_client = redis.Redis.from_url(settings.REDIS_URL, socket_timeout=SOCKET_TIMEOUT_SECONDS,
                                            socket_connect_timeout=SOCKET_TIMEOUT_SECONDS)
    return _sync_client


async def aclose_async_client() -> None:
    """Close this event loop's client (a loop about to end)."""
    client = _async_clients.pop(asyncio.get_running_loop(), None)
    if client is not None:
        await client.aclose()


def forget() -> None:
    """Drop every client without closing it: the next command makes a fresh one, as another
    process would (tests)."""
    global _sync_client
    _async_clients.clear()
    _sync_client = None
