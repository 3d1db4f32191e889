"""WebSocket handshake: Origin check and authentication.

Credentials, in order: ``?token=<access>``, the subprotocol pair ``["bearer", <access>]``
(keeps tokens out of URLs and logs), then the Django session cookie. The session cookie is
honoured only when the browser sent an ``Origin`` we trust: a connection with no ``Origin``
(mobile app, CLI) must bring a token, so a cookie alone can never be replayed cross-site.

The middleware never closes an authenticated-but-wrong socket itself: it records the
principal (or the reason there is none) in the scope, and the consumer accepts and closes
with 1008 so a browser sees the code (SPEC.md, "Socket close codes").
"""
from urllib.parse import parse_qs, urlsplit

from channels.db import database_sync_to_async
from django.conf import settings

from fiko.tokens import STAFF, InvalidCredentials, Principal, principal_from_access_token

SUBPROTOCOL = "bearer"


def _header(scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key == name:
            return value.decode("latin-1")
    return None


def origin_allowed(scope) -> bool:
    origin = _header(scope, b"origin")
    if origin is None:
        return True  # not a browser; still needs a token (see TokenAuthMiddleware)
    if origin in settings.ALLOWED_ORIGINS:
        return True
    host = _header(scope, b"host")
    return bool(host) and urlsplit(origin).netloc.lower() == host.lower()


def token_from_scope(scope) -> tuple[str | None, str | None]:
    """(token, subprotocol to answer with)."""
    query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
    if query.get("token"):
        return query["token"][0], None
    protocols = scope.get("subprotocols") or []
    if len(protocols) >= 2 and protocols[0].lower() == SUBPROTOCOL:
        return protocols[1], SUBPROTOCOL
    return None, None


class OriginGuard:
    """Refuse (HTTP 403 at the handshake) a browser origin that is neither ours nor allowed."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] == "websocket" and not origin_allowed(scope):
            await receive()  # websocket.connect
            await send({"type": "websocket.close", "code": 1008})
            return
        return await self.app(scope, receive, send)


class TokenAuthMiddleware:
    """Puts ``principal`` (or None) and ``auth_error`` into the scope. Runs inside the
    session/auth middleware so ``scope["user"]`` from the cookie is available."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "websocket":
            return await self.app(scope, receive, send)
        scope = dict(scope)
        token, subprotocol = token_from_scope(scope)
        scope["principal"], scope["auth_error"] = None, None
        scope["accept_subprotocol"] = subprotocol
        if token:
            try:
                scope["principal"] = await database_sync_to_async(principal_from_access_token)(token)
            except InvalidCredentials:
                scope["auth_error"] = "Invalid or expired token"
        else:
            user = scope.get("user")
            has_origin = _header(scope, b"origin") is not None
            if user is not None and user.is_authenticated and has_origin:
                scope["principal"] = Principal(kind=STAFF, user=user)
            else:
                scope["auth_error"] = "Authentication required"
        return await self.app(scope, receive, send)
