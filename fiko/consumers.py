"""BaseConsumer: what every Fiko socket shares, written once.

Authentication (accept, then close 1008), JSON decoding, dispatch of inbound frames to
``on_<type>`` methods, error frames, the 64 KiB frame limit, the per-socket rate limit,
token expiry, presence heartbeats and ``ping``. Subclasses add ``on_<type>`` handlers for
client frames and ``<event_type>`` handlers (``message_created``) for events.

Outbound frames: once ``connect`` has returned, everything a socket sends (replies, rendered
events, its close) goes through one bounded outbox drained by a writer task, in order. Events
arrive from the process's fan-out (fiko/fanout.py) through ``deliver``, which only queues, so
one socket that stops reading never holds up the others. When a socket's unsent frames exceed
``SOCKET_OUTBOX_MAX_FRAMES`` or ``SOCKET_OUTBOX_MAX_BYTES`` it gets an error frame
``slow_consumer`` (best effort) and is closed with 1013; its client reconnects and catches up
by ``seq``. Every socket also joins its principal's group before ``connect`` checks access:
``access.revoked`` there (fiko/access_revocation.py) closes it with ``forbidden``/1008 at once,
ahead of anything queued. During ``connect`` frames are sent directly, so ``recent_messages`` precedes every
event queued while it was read.
"""
import asyncio
import collections
import logging
import re
import secrets
import time

import orjson
from channels.consumer import get_handler_name
from channels.exceptions import StopConsumer
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from django.conf import settings
from django.db import DatabaseError
from redis.exceptions import RedisError

from fiko import log_context, metrics, presence, realtime
from fiko.db import database_sync_to_async
from fiko.errors import CloseCode, ErrorCode, FikoError
from fiko.fanout import FanoutUnavailable
from fiko.inputs import InvalidJSON, describe, loads_json
from fiko.outage import is_outage
from fiko.participants import Participant
from fiko.rate_limit import TokenBucket
from fiko.timefmt import now_iso
from fiko.tokens import STAFF, InvalidCredentials, principal_from_access_token

log = logging.getLogger(__name__)

MAX_FRAME_BYTES = 64 * 1024
_TYPE_RE = re.compile(r"[a-z][a-z_]{0,63}")  # frame types: on_<type> handlers only


def encode_frame(content) -> str:
    return orjson.dumps(content, default=str).decode()


def encoded_once(event: dict, key: str, build) -> str:
    """The frame ``build()`` for ``event``, encoded once per dialect ``key`` however many local
    sockets render the event (the fan-out hands them all the same event object)."""
    cache = event.get("__frames__")
    if cache is None:
        cache = event["__frames__"] = {}
    text = cache.get(key)
    if text is None:
        text = cache[key] = encode_frame(build())
    return text


class _Close:
    """The last item of an outbox: close the socket with ``code``."""
    __slots__ = ("code",)

    def __init__(self, code):
        self.code = code


def error_frame(code: ErrorCode | str, text: str, **extra) -> dict:
    """One error shape for every dialect: ``error`` (seeds 002-004) and ``message`` (seed 000)."""
    metrics.error_frame(code)
    return {"type": "error", "error": text, "message": text, "code": str(code), **extra}


_ABORT_LOG_LEVELS = {str(ErrorCode.SLOW_CONSUMER): logging.WARNING, str(ErrorCode.FORBIDDEN): logging.INFO}


class NoRouteConsumer(AsyncJsonWebsocketConsumer):
    """A socket path no route serves (``/ws/chat//``, ``/ws/nothing/``): accepted, told why in an
    error frame and closed 4404, like a missing conversation, instead of a failed handshake."""
    channel_layer_alias = "fiko.no-events"  # hears nothing: no channel-layer channel

    async def connect(self):
        await self.accept(subprotocol=self.scope.get("accept_subprotocol"))
        await self.send_json(error_frame(ErrorCode.NOT_FOUND, "No socket at this path"))
        await self.close(code=CloseCode.NOT_FOUND)
        metrics.close_closed(CloseCode.NOT_FOUND)

    async def receive(self, text_data=None, bytes_data=None):
        """Nothing is served here; frames racing the close are dropped."""


class BaseConsumer(AsyncJsonWebsocketConsumer):
    # Events reach a socket through the process's fan-out (``deliver``), not through a
    # channel-layer channel of its own: no channel name to create, no blocking receive per
    # socket. ``channel_name`` is still a unique name (presence entries, "not my own echo").
    channel_layer_alias = "fiko.sockets-hear-events-through-fiko.fanout"
    principal_kind = STAFF  # which token kind this socket accepts
    type_aliases: dict[str, str] = {}  # inbound type -> handler type (e.g. "support" -> "chat_message")

    async def __call__(self, scope, receive, send):
        """Channels' ``AsyncConsumer.__call__`` without a channel layer: the socket's messages
        are read in a plain loop. Channels' ``await_many_dispatch`` wraps every ``receive()`` in
        a task of its own and waits on it with ``asyncio.wait``, which a socket with one source
        does not need: that was a task per inbound frame and about a kilobyte held per idle
        socket (tracemalloc, W3)."""
        self.scope = scope
        self.channel_layer = None
        self.base_send = send
        try:
            while True:
                await self.dispatch(await receive())
        except StopConsumer:
            pass

    async def dispatch(self, message):
        """Channels' dispatch without its ``aclose_old_connections()`` before every message: that
        is a hop to the one sync thread (asgiref's thread-sensitive executor) per frame, which
        queued every socket's frames behind one thread (py-spy, W3: a fifth of the handshake).
        Nothing here holds a connection between messages: each database call runs on
        fiko/db.py's pool and returns its connection when it ends."""
        handler = getattr(self, get_handler_name(message), None)
        if handler is None:
            raise ValueError(f"No handler for message type {message['type']}")
        await handler(message)

    # --- connection ------------------------------------------------------------------------
    async def websocket_connect(self, message):
        self.channel_name = f"socket.{secrets.token_hex(12)}"
        log_context.bind_socket(self)
        self.principal = self.scope.get("principal")
        self.user = self.customer = None
        self.groups_joined: set[str] = set()
        self.presence_keys: list[str] = []
        self.bucket = TokenBucket()
        self._expiry_timer = None
        self._outbox: collections.deque | None = None  # (str | event dict | _Close, size); made on first use
        self._outbox_bytes = 0
        self._writer: asyncio.Task | None = None
        self._live = False  # connect has returned: frames go through the outbox
        self._closing = False  # closing: nothing more is queued
        self._revoked_during_connect = False
        if self.scope.get("unavailable"):  # the handshake could not reach the database
            return await self.reject(CloseCode.UNAVAILABLE, "Server temporarily unavailable",
                                     ErrorCode.UNAVAILABLE)
        if self.principal is None or self.principal.kind != self.principal_kind:
            reason = self.scope.get("auth_error") or f"A {self.principal_kind} token is required"
            return await self.reject(CloseCode.POLICY_VIOLATION, reason, ErrorCode.FORBIDDEN)
        self.user, self.customer = self.principal.user, self.principal.customer
        self.participant = Participant.of(user=self.user, customer=self.customer)
        self.expires_at = self.principal.expires_at
        try:
            # Before access is checked, so a revocation committed meanwhile is heard.
            await self.join_group(realtime.principal_group(self.participant))
            await self.connect()
        except DatabaseError:
            log.exception("database unavailable during connect")
            return await self.reject(CloseCode.UNAVAILABLE, "Server temporarily unavailable",
                                     ErrorCode.UNAVAILABLE)
        except (FanoutUnavailable, RedisError, OSError):
            log.exception("Redis unavailable during connect")
            return await self.reject(CloseCode.UNAVAILABLE, "Server temporarily unavailable",
                                     ErrorCode.UNAVAILABLE)
        if getattr(self, "accepted", False) and not self._closing:
            self._live = True
            metrics.socket_opened(self)
            if self._revoked_during_connect:
                return self._revoke()
            if self._outbox:
                self._writer = self._start(self._drain_outbox())

    @property
    def display_name(self) -> str:
        """How others see this socket's principal (presence, typing)."""
        return self.user.username if self.user else self.customer.display_name

    async def accept(self, subprotocol=None, headers=None):
        await super().accept(subprotocol=subprotocol or self.scope.get("accept_subprotocol"), headers=headers)
        self.accepted = True
        if getattr(self, "user", None) or getattr(self, "customer", None):
            if self.expires_at:
                self._expire_at(self.expires_at)
            presence.keep_alive(self.channel_name, self.presence_keys, self.participant.key, self._is_live)

    async def reject(self, code: int, text: str, error_code: ErrorCode = ErrorCode.NOT_FOUND):
        """Accept, say why in an error frame, close with ``code`` (browsers only see codes
        of accepted sockets)."""
        if not getattr(self, "accepted", False):
            await super().accept(subprotocol=self.scope.get("accept_subprotocol"))
            self.accepted = True
        await self.send_json(error_frame(error_code, text))
        await self.close(code=int(code))

    async def websocket_disconnect(self, message):
        self._closing = True
        if getattr(self, "_expiry_timer", None) is not None:
            self._expiry_timer.cancel()
        if getattr(self, "channel_name", None):
            presence.stop_keeping_alive(self.channel_name)
        writer = getattr(self, "_writer", None)
        if writer is not None and writer is not asyncio.current_task():
            writer.cancel()
        self._drop_outbox()
        await self._release()
        metrics.socket_closed(self, message)
        # Not Channels' websocket_disconnect: its channel-layer groups are not ours (the fan-out
        # is left in _release) and its aclose_old_connections() is a hop to the one sync thread
        # per closing socket (no connection is held between calls here: see dispatch).
        raise StopConsumer()

    async def _release(self):
        """Leave presence and every group, once (at disconnect, or as soon as a socket is
        aborted: it gets nothing more while its close handshake drags on)."""
        if getattr(self, "_released", False):
            return
        self._released = True
        try:
            await self.before_disconnect()
        except Exception:
            log.exception("disconnect cleanup failed")
        if getattr(self, "groups_joined", None):
            await realtime.leave(self, *self.groups_joined)

    async def before_disconnect(self):
        """Subclasses: announce leaving (presence) before groups are dropped."""

    async def join_group(self, group: str):
        await realtime.join(self, group)
        self.groups_joined.add(group)

    async def leave_group(self, group: str):
        await realtime.leave(self, group)
        self.groups_joined.discard(group)

    # --- outbound frames ---------------------------------------------------------------------
    def deliver(self, event: dict, size: int) -> None:
        """An event from the fan-out: queued, never awaited (fiko/fanout.py). A revocation is
        acted on at once, ahead of whatever is queued (which is dropped)."""
        if self._closing:
            return
        if event.get("type") == realtime.ACCESS_REVOKED:
            if event.get("workspace_id") is None or self.uses_workspace(event["workspace_id"]):
                if self._live:
                    self._revoke()
                else:
                    self._revoked_during_connect = True
            return
        self._enqueue(event, size)

    def uses_workspace(self, workspace_id: int) -> bool:
        """Whether this socket serves data of ``workspace_id`` (its user's membership there was
        just removed). Subclasses that know their workspaces answer exactly; by default, yes."""
        return True

    def _revoke(self) -> None:
        self._abort(ErrorCode.FORBIDDEN, "Access revoked", CloseCode.POLICY_VIOLATION)

    def fanout_lost(self) -> None:
        """This process lost its event subscription: events may be missing, so the client must
        reconnect and catch up."""
        self._abort(ErrorCode.UNAVAILABLE, "Server temporarily unavailable: reconnect",
                    CloseCode.UNAVAILABLE)

    def _start(self, coroutine) -> asyncio.Task:
        """The socket's own tasks (its writer, its close) run with the socket's log fields even
        when an event delivered by the fan-out's reader starts them: their lines name it."""
        return asyncio.get_running_loop().create_task(coroutine, context=log_context.socket_context(self))

    def _drop_outbox(self) -> None:
        if getattr(self, "_outbox", None):
            self._outbox.clear()
        self._outbox_bytes = 0

    def _enqueue(self, item, size: int) -> None:
        if self._outbox is None:  # most sockets are idle: no deque (a 64-slot block) until needed
            self._outbox = collections.deque()
        self._outbox.append((item, size))
        self._outbox_bytes += size
        # The bytes bound is on a backlog: one frame alone (a page of 100 long messages can be
        # larger than the bound) is never one, or a client catching up would be closed forever.
        if len(self._outbox) > settings.SOCKET_OUTBOX_MAX_FRAMES or (
                self._outbox_bytes > settings.SOCKET_OUTBOX_MAX_BYTES and len(self._outbox) > 1):
            return self._abort(ErrorCode.SLOW_CONSUMER, "Too many unsent frames: reconnect and catch up by seq",
                               CloseCode.TRY_AGAIN_LATER)
        if self._live and self._writer is None:
            self._writer = self._start(self._drain_outbox())

    async def _drain_outbox(self):
        try:
            while self._outbox:
                item, size = self._outbox.popleft()
                self._outbox_bytes -= size
                if type(item) is str:
                    await self.base_send({"type": "websocket.send", "text": item})
                elif type(item) is dict:
                    await self._render(item)
                else:
                    self._closing = True
                    self._drop_outbox()
                    await super().close(code=item.code)
                    return
        except OSError:  # the client is gone (uvicorn's ClientDisconnected); disconnect follows
            self._closing = True
            self._drop_outbox()
        finally:
            if self._writer is asyncio.current_task():
                self._writer = None

    async def _render(self, event: dict):
        handler = getattr(self, get_handler_name(event), None)
        if handler is None:
            return  # an event this dialect does not render
        try:
            await handler(event)
        except OSError:
            raise
        except Exception:
            log.exception("rendering %s failed", event.get("type"))

    def _abort(self, code: ErrorCode, text: str, close_code: int) -> None:
        """Drop what is queued, say why (best effort) and close: the client catches up by seq."""
        if self._closing:
            return
        self._closing = True
        unsent = (len(self._outbox or ()), self._outbox_bytes)
        self._drop_outbox()
        stuck, self._writer = self._writer, None
        if stuck is not None:
            stuck.cancel()
        self._start(self._say_and_close(stuck, error_frame(code, text), close_code, unsent))

    async def _say_and_close(self, stuck, frame: dict, close_code: int, unsent: tuple[int, int]):
        # Logged here, in the socket's own task, so the line names this socket (log_context). Not
        # for a lost subscription: the process logs that once, not once per socket.
        level = _ABORT_LOG_LEVELS.get(frame["code"])
        if level is not None:
            log.log(level, "closing the socket with %d (%s): %d frames, %d bytes unsent dropped",
                    close_code, frame["code"], unsent[0], unsent[1])
        if stuck is not None:
            await asyncio.wait([stuck])
        try:
            await self._release()
        except Exception:
            log.warning("releasing an aborted socket failed", exc_info=True)
        if getattr(self, "accepted", False):
            try:  # a client that does not read may never take this frame
                await asyncio.wait_for(self.base_send({"type": "websocket.send", "text": encode_frame(frame)}),
                                       timeout=1)
            except Exception:
                pass
        try:
            await super().close(code=close_code)
        except (OSError, RuntimeError):
            # The connection ended first: the client left, or (a client that reads nothing at
            # all) uvicorn's keepalive closed it 1011 while our close waited behind the unread
            # frames. Either way it is closed.
            log.info("socket already closed before its %s close", close_code)
        except Exception:
            log.warning("closing a socket failed", exc_info=True)

    async def send_json(self, content, close=False):
        await self.send_text(encode_frame(content))
        if close:
            await self.close()

    async def send_text(self, text: str):
        """Directly during connect and from the writer; queued otherwise."""
        metrics.frame_out(text)
        if not self._live or asyncio.current_task() is self._writer:
            await self.base_send({"type": "websocket.send", "text": text})
        elif not self._closing:
            self._enqueue(text, len(text))

    async def close(self, code=None, reason=None):
        """After everything queued before it."""
        if not getattr(self, "_live", False) or asyncio.current_task() is self._writer:
            self._closing = True
            return await super().close(code=code, reason=reason)
        if not self._closing:
            self._enqueue(_Close(code), 0)
            self._closing = True

    # --- inbound frames --------------------------------------------------------------------
    async def receive(self, text_data=None, bytes_data=None):
        if self._closing:
            return  # revoked, aborted or closing: nothing more is served
        size = len(text_data.encode("utf-8")) if text_data is not None else len(bytes_data or b"")
        if size > MAX_FRAME_BYTES:
            return await self.send_error(ErrorCode.TOO_LONG, f"Frame too large (limit {MAX_FRAME_BYTES} bytes)")
        if not self.bucket.allow():
            return await self.send_error(ErrorCode.RATE_LIMITED, "Too many frames: slow down (20/s, bursts of 40)")
        if text_data is None:
            return await self.send_error(ErrorCode.INVALID_JSON, "Invalid JSON format")
        try:
            frame = loads_json(text_data)
        except InvalidJSON as exc:
            return await self.send_error(exc.code, exc.text, **exc.extra)
        if not isinstance(frame, dict):
            return await self.send_error(ErrorCode.INVALID_JSON, "Invalid JSON format")
        await self.dispatch_frame(frame)

    async def dispatch_frame(self, frame: dict):
        kind = frame.get("type")
        kind = self.type_aliases.get(kind, kind) if isinstance(kind, str) else kind
        handler = getattr(self, f"on_{kind}", None) if isinstance(kind, str) and _TYPE_RE.fullmatch(kind) else None
        metrics.frame_in(kind if handler is not None else None)
        if handler is None:
            return await self.send_error(ErrorCode.UNKNOWN_TYPE, f"Unknown message type: {describe(frame.get('type'))}")
        try:
            await handler(frame)
        except FikoError as exc:
            await self.send_error(exc.code, exc.text, **exc.extra)
        except Exception as exc:
            if is_outage(exc):  # SPEC: unavailable, then 1011; the client reconnects and catches up
                log.error("%s unavailable handling %s", type(exc).__name__, kind)
                await self.send_error(ErrorCode.UNAVAILABLE, "Server temporarily unavailable: reconnect and catch up")
                return await self.close(code=CloseCode.UNAVAILABLE)
            if isinstance(exc, DatabaseError):
                log.exception("database error handling %s", kind)
                return await self.send_error(ErrorCode.UNAVAILABLE, "Server temporarily unavailable, try again")
            log.exception("unexpected error handling %s", kind)
            await self.send_error(ErrorCode.SERVER_ERROR, "Internal error")

    async def send_error(self, code, text, **extra):
        await self.send_json(error_frame(code, text, **extra))

    # --- frames every socket understands ----------------------------------------------------
    async def on_ping(self, frame):
        await self.send_json({"type": "pong", "timestamp": now_iso()})

    async def on_authenticate(self, frame):
        """Renew credentials on a live socket before the current token expires."""
        token = frame.get("token")
        if not isinstance(token, str) or not token:
            raise FikoError(ErrorCode.INVALID_INPUT, "authenticate needs a token")
        try:
            principal = await database_sync_to_async(principal_from_access_token)(token)
        except InvalidCredentials:
            raise FikoError(ErrorCode.FORBIDDEN, "Invalid or expired token")
        same = principal.kind == self.principal.kind and (
            Participant.of(user=principal.user, customer=principal.customer) == self.participant)
        if not same:
            raise FikoError(ErrorCode.FORBIDDEN, "Token belongs to someone else")
        self.principal, self.expires_at = principal, principal.expires_at
        await self.send_json({"type": "authenticated", "expires_at": self.expires_at})

    def _is_live(self) -> bool:
        return not self._closing

    # --- timers (handles, not a task per socket) ---------------------------------------------
    def _expire_at(self, expires_at: float):
        loop = asyncio.get_running_loop()
        self._expiry_timer = loop.call_later(max(0.0, expires_at - time.time()), self._on_expiry_timer)

    def _on_expiry_timer(self):
        if self._closing:
            return
        if self.expires_at and self.expires_at > time.time():  # renewed with authenticate
            return self._expire_at(self.expires_at)
        self._start(self._expire_token())

    async def _expire_token(self):
        await self.send_error(ErrorCode.TOKEN_EXPIRED, "Token expired: reconnect with a fresh token")
        await self.close(code=CloseCode.POLICY_VIOLATION)

