"""BaseConsumer: what every Fiko socket shares, written once.

Authentication (accept, then close 1008), JSON decoding, dispatch of inbound frames to
``on_<type>`` methods, error frames, the 64 KiB frame limit, the per-socket rate limit,
token expiry, presence heartbeats and ``ping``. Subclasses add ``on_<type>`` handlers for
client frames and ``<event_type>`` handlers (``message_created``) for layer events.
"""
import asyncio
import json
import logging
import re
import time

from channels.consumer import get_handler_name
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from channels.db import database_sync_to_async
from django.db import DatabaseError

from fiko import presence, realtime
from fiko.errors import CloseCode, ErrorCode, FikoError
from fiko.inputs import InvalidJSON, describe, loads_json
from fiko.rate_limit import TokenBucket
from fiko.timefmt import now_iso
from fiko.tokens import STAFF, InvalidCredentials, principal_from_access_token

log = logging.getLogger(__name__)

MAX_FRAME_BYTES = 64 * 1024
_TYPE_RE = re.compile(r"[a-z][a-z_]{0,63}")  # frame types: on_<type> handlers only


def error_frame(code: ErrorCode | str, text: str, **extra) -> dict:
    """One error shape for every dialect: ``error`` (seeds 002-004) and ``message`` (seed 000)."""
    return {"type": "error", "error": text, "message": text, "code": str(code), **extra}


class NoRouteConsumer(AsyncJsonWebsocketConsumer):
    """A socket path no route serves (``/ws/chat//``, ``/ws/nothing/``): accepted, told why in an
    error frame and closed 4404, like a missing conversation, instead of a failed handshake."""

    async def connect(self):
        await self.accept(subprotocol=self.scope.get("accept_subprotocol"))
        await self.send_json(error_frame(ErrorCode.NOT_FOUND, "No socket at this path"))
        await self.close(code=CloseCode.NOT_FOUND)

    async def receive(self, text_data=None, bytes_data=None):
        """Nothing is served here; frames racing the close are dropped."""


class BaseConsumer(AsyncJsonWebsocketConsumer):
    principal_kind = STAFF  # which token kind this socket accepts
    type_aliases: dict[str, str] = {}  # inbound type -> handler type (e.g. "support" -> "chat_message")

    # --- connection ------------------------------------------------------------------------
    async def websocket_connect(self, message):
        self.principal = self.scope.get("principal")
        self.user = self.customer = None
        self.groups_joined: set[str] = set()
        self.presence_keys: list[str] = []
        self.bucket = TokenBucket()
        self._tasks: list[asyncio.Task] = []
        if self.principal is None or self.principal.kind != self.principal_kind:
            reason = self.scope.get("auth_error") or f"A {self.principal_kind} token is required"
            return await self.reject(CloseCode.POLICY_VIOLATION, reason, ErrorCode.FORBIDDEN)
        self.user, self.customer = self.principal.user, self.principal.customer
        self.participant = f"user:{self.user.pk}" if self.user else f"customer:{self.customer.pk}"
        self.expires_at = self.principal.expires_at
        try:
            await self.connect()
        except DatabaseError:
            log.exception("database unavailable during connect")
            return await self.reject(1011, "Server temporarily unavailable", ErrorCode.SERVER_ERROR)

    async def accept(self, subprotocol=None, headers=None):
        await super().accept(subprotocol=subprotocol or self.scope.get("accept_subprotocol"), headers=headers)
        self.accepted = True
        if getattr(self, "user", None) or getattr(self, "customer", None):
            if self.expires_at:
                self._tasks.append(asyncio.create_task(self._expire_token()))
            self._tasks.append(asyncio.create_task(self._heartbeat()))

    async def reject(self, code: int, text: str, error_code: ErrorCode = ErrorCode.NOT_FOUND):
        """Accept, say why in an error frame, close with ``code`` (browsers only see codes
        of accepted sockets)."""
        if not getattr(self, "accepted", False):
            await super().accept(subprotocol=self.scope.get("accept_subprotocol"))
            self.accepted = True
        await self.send_json(error_frame(error_code, text))
        await self.close(code=int(code))

    async def websocket_disconnect(self, message):
        for task in getattr(self, "_tasks", []):
            task.cancel()
        try:
            await self.before_disconnect()
        except Exception:
            log.exception("disconnect cleanup failed")
        if getattr(self, "groups_joined", None):
            await realtime.leave(self.channel_name, *self.groups_joined)
        await super().websocket_disconnect(message)

    async def dispatch(self, message):
        """Layer events a dialect does not render are dropped here, once for every consumer
        (Channels would raise "No handler" and kill the socket)."""
        if message.get("type") in realtime.DOMAIN_EVENTS and not hasattr(self, get_handler_name(message)):
            return
        await super().dispatch(message)

    async def before_disconnect(self):
        """Subclasses: announce leaving (presence) before groups are dropped."""

    async def join_group(self, group: str):
        await realtime.join(self.channel_name, group)
        self.groups_joined.add(group)

    async def leave_group(self, group: str):
        await realtime.leave(self.channel_name, group)
        self.groups_joined.discard(group)

    # --- inbound frames --------------------------------------------------------------------
    async def receive(self, text_data=None, bytes_data=None):
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
        if handler is None:
            return await self.send_error(ErrorCode.UNKNOWN_TYPE, f"Unknown message type: {describe(frame.get('type'))}")
        try:
            await handler(frame)
        except FikoError as exc:
            await self.send_error(exc.code, exc.text, **exc.extra)
        except DatabaseError:
            log.exception("database error handling %s", kind)
            await self.send_error(ErrorCode.SERVER_ERROR, "Server temporarily unavailable, try again")
        except Exception:
            log.exception("unexpected error handling %s", kind)
            await self.send_error(ErrorCode.SERVER_ERROR, "Internal error")

    async def send_error(self, code, text, **extra):
        await self.send_json(error_frame(code, text, **extra))

    @classmethod
    async def encode_json(cls, content):
        return json.dumps(content, ensure_ascii=False, separators=(",", ":"))

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
            (principal.user and self.user and principal.user.pk == self.user.pk)
            or (principal.customer and self.customer and principal.customer.pk == self.customer.pk)
        )
        if not same:
            raise FikoError(ErrorCode.FORBIDDEN, "Token belongs to someone else")
        self.principal, self.expires_at = principal, principal.expires_at
        await self.send_json({"type": "authenticated", "expires_at": self.expires_at})

    # --- background tasks ------------------------------------------------------------------
    async def _expire_token(self):
        while True:
            delay = (self.expires_at or 0) - time.time()
            if delay > 0:
                await asyncio.sleep(min(delay, 3600))
                continue
            await self.send_error(ErrorCode.TOKEN_EXPIRED, "Token expired: reconnect with a fresh token")
            await self.close(code=CloseCode.POLICY_VIOLATION)
            return

    async def _heartbeat(self):
        while True:
            await asyncio.sleep(presence.HEARTBEAT_SECONDS)
            if self.presence_keys:
                try:
                    await presence.renew(self.presence_keys, self.participant, self.channel_name)
                except Exception:
                    log.exception("presence renew failed")
