"""Prometheus instruments, and the small hooks the hot paths call (prometheus-client).

The hooks are one line each in the code they measure: sockets (fiko/consumers.py), publishing
(fiko/realtime.py), platform webhooks (``webhook_view``), outbound delivery
(integrations/delivery/outbox.py) and every HTTP request (``RequestMetricsMiddleware``). The
scrape endpoint is fiko/ops_endpoints.py. What each series means and how to read them: the
README's *Production*.

Label values are bounded: routes and views are URL patterns, frame types and error codes are
the server's own (inbound frames without a handler count as ``unknown``), close codes outside
the known set count as ``other``.

Per-frame cost: the frame hooks look their counter child up in a dict (no ``labels()`` call)
and take the type from the frame's first key, which every outbound frame has (``{"type":``).

Several worker processes in one container (``uvicorn --workers N``) must share a scrape: set
``PROMETHEUS_MULTIPROC_DIR`` to an empty directory (prometheus-client's multiprocess mode).
One process per container, as in docker-compose.prod.yml, needs nothing.
"""
import functools
import logging
import time

from prometheus_client import Counter, Gauge, Histogram
from prometheus_client.core import GaugeMetricFamily

from fiko.middleware_base import BothModesMiddleware

log = logging.getLogger(__name__)

_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)
KNOWN_CLOSE_CODES = frozenset({1000, 1001, 1005, 1006, 1008, 1009, 1011, 1012, 1013, 4404})
MAX_TYPES = 64  # distinct frame types per counter; past it, "other"

SOCKETS_OPEN = Gauge("fiko_ws_open_sockets", "Open WebSockets", ["route", "dialect"], multiprocess_mode="livesum")
SOCKETS_OPENED = Counter("fiko_ws_sockets_opened", "WebSockets accepted and authenticated", ["route", "dialect"])
FRAMES_IN = Counter("fiko_ws_frames_in", "Client frames dispatched, by type", ["type"])
FRAMES_OUT = Counter("fiko_ws_frames_out", "Frames sent or queued to clients, by type", ["type"])
ERROR_FRAMES = Counter("fiko_ws_error_frames", "Error frames sent, by error code", ["code"])
CLOSES = Counter("fiko_ws_closes", "WebSocket connections ended, by close code", ["code"])
PUBLISH_SECONDS = Histogram("fiko_publish_seconds", "Publishing one event to its groups (Redis PUBLISH)",
                            ["mode"], buckets=_LATENCY_BUCKETS)
WEBHOOK_REQUESTS = Counter("fiko_webhook_requests", "Platform webhook requests, by status", ["platform", "status"])
WEBHOOK_SECONDS = Histogram("fiko_webhook_ingest_seconds", "Platform webhook request handling time",
                            ["platform"], buckets=_LATENCY_BUCKETS)
OUTBOUND_SENDS = Counter("fiko_outbound_sends", "Outbound delivery attempts, by result (sent, retry, failed)",
                         ["platform", "result"])
HTTP_SECONDS = Histogram("fiko_http_request_seconds", "HTTP request latency, by view (URL pattern)",
                         ["view", "method", "status"], buckets=_LATENCY_BUCKETS)

_socket_labels: dict = {}
_frames_out: dict = {}
_frames_in: dict = {}


# --- sockets -------------------------------------------------------------------------------
def _labels_for(consumer) -> tuple[str, str]:
    cls = type(consumer)
    labels = _socket_labels.get(cls)
    if labels is None:
        route = getattr(cls, "route", None) or "other"  # set by fiko/routing.py
        labels = _socket_labels[cls] = (route, cls.__name__.removesuffix("Consumer"))
    return labels


def socket_opened(consumer) -> None:
    labels = _labels_for(consumer)
    consumer._metrics_open = labels
    SOCKETS_OPEN.labels(*labels).inc()
    SOCKETS_OPENED.labels(*labels).inc()


def socket_closed(consumer, message: dict) -> None:
    """At disconnect (once per connection): the close code, and the socket no longer open."""
    labels = getattr(consumer, "_metrics_open", None)
    if labels is not None:
        consumer._metrics_open = None
        SOCKETS_OPEN.labels(*labels).dec()
    close_closed(message.get("code"))


def close_closed(code) -> None:
    CLOSES.labels(str(code) if code in KNOWN_CLOSE_CODES else "other").inc()


def _child(cache: dict, counter: Counter, kind: str):
    child = cache.get(kind)
    if child is None:
        if len(cache) >= MAX_TYPES:
            kind = "other"
            child = cache.get(kind)
        if child is None:
            child = cache[kind] = counter.labels(kind)
    return child


def frame_out(text: str) -> None:
    """A frame for the client: its type is its first key (``{"type":"<type>",...}``)."""
    if text.startswith('{"type":"'):
        end = text.find('"', 9, 73)
        kind = text[9:end] if end > 0 else "other"
    else:
        kind = "other"
    _child(_frames_out, FRAMES_OUT, kind).inc()


def frame_in(kind) -> None:
    """A client frame dispatched to its handler (``kind``), or to none (``None``: unknown)."""
    _child(_frames_in, FRAMES_IN, kind if kind is not None else "unknown").inc()


def error_frame(code) -> None:
    ERROR_FRAMES.labels(str(code)).inc()


# --- publishing ----------------------------------------------------------------------------
def publish_timer(mode: str):
    """``with metrics.publish_timer("on_commit"): fanout.publish(...)``"""
    return PUBLISH_SECONDS.labels(mode).time()


# --- webhooks ------------------------------------------------------------------------------
def webhook_view(platform: str):
    """Decorator for an async webhook view: requests by status, and their handling time."""
    def decorate(view):
        @functools.wraps(view)
        async def measured(request, *args, **kwargs):
            started, status = time.perf_counter(), 500
            try:
                response = await view(request, *args, **kwargs)
                status = response.status_code
                return response
            finally:
                WEBHOOK_REQUESTS.labels(platform, str(status)).inc()
                WEBHOOK_SECONDS.labels(platform).observe(time.perf_counter() - started)
        return measured
    return decorate


# --- outbound delivery ---------------------------------------------------------------------
def outbound_recorded(channel, delivery_status: str) -> None:
    """An attempt's outcome: the row's status after it (still ``pending`` means a retry)."""
    result = {"sent": "sent", "failed": "failed", "pending": "retry"}.get(delivery_status, delivery_status)
    OUTBOUND_SENDS.labels(channel.platform if channel is not None else "none", result).inc()


class OutboxBacklog:
    """Read at scrape time: pending outbound messages and the age of the oldest one."""

    def describe(self):
        return self._families()

    @staticmethod
    def _families():
        return [GaugeMetricFamily("fiko_outbox_pending", "Outbound messages waiting to be sent"),
                GaugeMetricFamily("fiko_outbox_oldest_pending_age_seconds",
                                  "Age of the oldest outbound message waiting to be sent (0 when none)")]

    def collect(self):
        from django.db import DatabaseError
        from django.db.models import Count, Min
        from django.utils import timezone

        from conversations.models import Message

        pending, oldest = self._families()
        try:
            row = Message.objects.filter(delivery_status=Message.Delivery.PENDING).aggregate(
                n=Count("pk"), oldest=Min("created_at"))
        except DatabaseError:
            log.warning("metrics: reading the outbox backlog failed", exc_info=True)
            return []
        pending.add_metric([], row["n"])
        oldest.add_metric([], (timezone.now() - row["oldest"]).total_seconds() if row["oldest"] else 0.0)
        return [pending, oldest]


# --- HTTP requests -------------------------------------------------------------------------
class RequestMetricsMiddleware(BothModesMiddleware):
    """Latency of every Django request, labelled with its URL pattern (``unmatched`` when no
    route matched), method and status."""

    def handle(self, request):
        started = time.perf_counter()
        response = self.get_response(request)
        _observe(request, response, started)
        return response

    async def ahandle(self, request):
        started = time.perf_counter()
        response = await self.get_response(request)
        _observe(request, response, started)
        return response


def _observe(request, response, started: float) -> None:
    match = getattr(request, "resolver_match", None)
    view = (match.route or match.view_name) if match is not None else "unmatched"
    method = request.method if request.method in _METHODS else "other"
    HTTP_SECONDS.labels(view, method, str(response.status_code)).observe(time.perf_counter() - started)


_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
