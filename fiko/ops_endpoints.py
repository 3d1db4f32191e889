"""``/healthz``, ``/readyz`` and ``/metrics``, answered in front of Django (an ASGI guard).

In front of Django so they are cheap and answer whatever ``Host`` the prober uses (an
orchestrator or Prometheus addresses a replica by its container address, which is not in
``ALLOWED_HOSTS``); no authentication, no session, no request log line on success
(fiko/log_json.py drops the access-log line of a successful probe).

- ``/healthz``: the process is alive and serving: ``200 {"status": "ok"}``; touches nothing.
- ``/readyz``: the database (``SELECT 1``) and the channel layer's Redis (``PING``, the client
  events are published with) answer, each with its latency; ``503`` when either does not answer
  within ``READYZ_TIMEOUT_SECONDS``. Without ``REDIS_URL`` the in-memory layer is always ready.
- ``/metrics``: Prometheus text (fiko/metrics.py). Only for client addresses in
  ``METRICS_ALLOWED_IPS`` (default loopback), or any address with
  ``Authorization: Bearer <METRICS_TOKEN>`` when that is set; otherwise 403. The client
  address is the one fiko/proxy.py resolved, so behind nginx it is the real client's.
"""
import asyncio
import hmac
import os
import time

import orjson
from django.conf import settings
from django.db import connection
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest

from fiko import metrics, proxy, redis_clients
from fiko.db import database_sync_to_async

_backlog_registry = CollectorRegistry()
_backlog_registry.register(metrics.OutboxBacklog())


def _db_ping() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")


async def _redis_ping() -> None:
    await redis_clients.async_client().ping()


async def _timed(probe) -> dict:
    started = time.perf_counter()
    try:
        await asyncio.wait_for(probe(), settings.READYZ_TIMEOUT_SECONDS)
        result = {"ok": True}
    except asyncio.TimeoutError:
        result = {"ok": False, "error": f"no answer within {settings.READYZ_TIMEOUT_SECONDS:g}s"}
    except Exception as exc:  # anything the driver raises means "not ready"
        result = {"ok": False, "error": type(exc).__name__}
    result["latency_ms"] = round((time.perf_counter() - started) * 1000, 2)
    return result


async def readiness() -> tuple[int, dict]:
    database = _timed(database_sync_to_async(_db_ping))
    if settings.REDIS_URL:
        database, layer = await asyncio.gather(database, _timed(_redis_ping))
        layer["backend"] = "redis"
    else:
        database, layer = await database, {"ok": True, "backend": "in-memory", "latency_ms": 0.0}
    ready = database["ok"] and layer["ok"]
    body = {"status": "ready" if ready else "unavailable", "checks": {"database": database, "channel_layer": layer}}
    return (200 if ready else 503), body


def render_metrics() -> bytes:
    """The exposition text: this process's instruments (or, in multiprocess mode, every
    process's), and the outbox backlog read from the database now."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
    else:
        registry = REGISTRY
    return generate_latest(registry) + generate_latest(_backlog_registry)


def metrics_allowed(scope) -> bool:
    client = scope.get("client")
    address = proxy.parse_address(client[0]) if client else None
    if address is not None and any(address in network for network in _allowed_networks()):
        return True
    token = settings.METRICS_TOKEN
    if not token:
        return False
    supplied = dict(scope.get("headers") or ()).get(b"authorization", b"").decode("latin-1")
    return hmac.compare_digest(supplied.encode(), f"Bearer {token}".encode())


_networks_cache: dict = {}


def _allowed_networks():
    key = tuple(settings.METRICS_ALLOWED_IPS)
    if key not in _networks_cache:
        _networks_cache.clear()
        _networks_cache[key] = proxy.parse_networks(key)
    return _networks_cache[key]


async def _respond(send, status: int, body: bytes, content_type: bytes, head: bool) -> None:
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", content_type), (b"cache-control", b"no-store"),
                            (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": b"" if head else body})


def _json(status: int, body: dict):
    return status, orjson.dumps(body), b"application/json"


async def _answer(scope) -> tuple[int, bytes, bytes]:
    path = scope["path"]
    if scope["method"] not in ("GET", "HEAD"):
        return _json(405, {"detail": f"Method {scope['method']} not allowed: {path} answers GET"})
    if path == "/healthz":
        return _json(200, {"status": "ok"})
    if path == "/readyz":
        return _json(*await readiness())
    if not metrics_allowed(scope):
        return _json(403, {"detail": "Metrics are readable from METRICS_ALLOWED_IPS, or with the METRICS_TOKEN bearer token"})
    body = await database_sync_to_async(render_metrics)()
    return 200, body, CONTENT_TYPE_LATEST.encode()


class OpsEndpoints:
    PATHS = frozenset({"/healthz", "/readyz", "/metrics"})

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or scope["path"] not in self.PATHS:
            return await self.app(scope, receive, send)
        status, body, content_type = await _answer(scope)
        await _respond(send, status, body, content_type, head=scope["method"] == "HEAD")
