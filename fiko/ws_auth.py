"""WebSocket handshake: Origin check and authentication.

Credentials, in order: ``?token=<access>``, the subprotocol pair ``["bearer", <access>]``
(keeps tokens out of URLs and logs), then the Django session cookie. The session cookie is
honoured only when the browser sent an ``Origin`` we trust: a connection with no ``Origin``
(mobile app, CLI) must bring a token, so a cookie alone can never be replayed cross-site.

The middleware never closes an authenticated-but-wrong socket itself: it records the
principal (or the reason there is none) in the scope, and the consumer accepts and closes
with 1008 so a browser sees the code (SPEC.md, "Socket close codes").

The token's signature, expiry and kind are checked here without a query. Loading the user is
one query, which a consumer with ``verifies_principal = True`` folds into the query it makes
anyway (the chat socket checks the user and the conversation's workspace membership together):
such a consumer gets a staff principal whose user is a ``ClaimedUser`` (only ``pk``) and must
confirm it before it accepts. Every other consumer gets the loaded user, as before.
"""
import logging
import re
from http.cookies import SimpleCookie
from importlib import import_module
from types import SimpleNamespace
from urllib.parse import parse_qs, urlsplit

from django.conf import settings
from django.contrib.auth import get_user

from fiko.db import database_sync_to_async
from fiko.outage import is_outage
from fiko.tokens import STAFF, ClaimedUser, InvalidCredentials, Principal, access_claims, principal_from_claims

log = logging.getLogger(__name__)

SUBPROTOCOL = "bearer"
INVALID_TOKEN = "Invalid or expired token"


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
    if any(re.match(pattern, origin) for pattern in settings.ALLOWED_ORIGIN_REGEXES):
        return True  # under DEBUG: a local dev server (settings.ALLOWED_ORIGIN_REGEXES)
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
    """Refuse (HTTP 403 at the handshake) a browser origin that is neither ours nor allowed.

    Not a coroutine itself (like TokenAuthMiddleware): it returns the inner application's
    coroutine, so no frame of its own stays alive for the life of every socket."""
    _asgi_single_callable = True  # for asgiref's guarantee_single_callable: (scope, receive, send)

    def __init__(self, app):
        self.app = app

    def __call__(self, scope, receive, send):
        if scope["type"] == "websocket" and not origin_allowed(scope):
            return self._refuse(receive, send)
        return self.app(scope, receive, send)

    @staticmethod
    async def _refuse(receive, send):
        await receive()  # websocket.connect
        await send({"type": "websocket.close", "code": 1008})


def routed_consumer(app, scope):
    """The consumer class a URLRouter ``app`` will hand ``scope`` to, or None (not a router, no
    route, not a consumer). The first matching route wins, as in URLRouter itself."""
    path = scope.get("path")
    routes = getattr(app, "routes", None)
    if path is None or routes is None:
        return None
    root_path = scope.get("root_path", "")
    if root_path:
        if not path.startswith(root_path):
            return None
        path = path[len(root_path):]
    path = path.lstrip("/")
    for route in routes:
        if route.pattern.match(path):
            return getattr(route.callback, "consumer_class", None)
    return None


def user_from_session_cookie(scope):
    """The logged-in user of the Django session cookie the handshake carries, or None: Django's
    own session and auth (session hash checked), read once at the handshake. (Channels'
    AuthMiddlewareStack does the same but also wraps every frame the socket sends.)"""
    cookie = SimpleCookie()
    try:
        cookie.load(_header(scope, b"cookie") or "")
    except Exception:  # a malformed Cookie header is no session
        return None
    morsel = cookie.get(settings.SESSION_COOKIE_NAME)
    if morsel is None or not morsel.value:
        return None
    session = import_module(settings.SESSION_ENGINE).SessionStore(morsel.value)
    user = get_user(SimpleNamespace(session=session))
    return user if user.is_authenticated else None


class TokenAuthMiddleware:
    """Puts ``principal`` (or None) and ``auth_error`` into the scope.

    When the token alone decides (no token, an invalid one, or a staff token for a consumer that
    verifies its user itself) nothing is awaited: the scope is filled in and the inner
    application's coroutine is returned, so no frame of this middleware is held for the life of
    the socket (a few hundred bytes each at thousands of idle sockets). The scope is the
    server's own, per connection, and is filled in place, as fiko/proxy.py does."""
    _asgi_single_callable = True  # for asgiref's guarantee_single_callable: (scope, receive, send)

    def __init__(self, app):
        self.app = app

    def __call__(self, scope, receive, send):
        if scope["type"] != "websocket":
            return self.app(scope, receive, send)
        token, scope["accept_subprotocol"] = token_from_scope(scope)
        scope["principal"], scope["auth_error"] = None, None
        scope.pop("unavailable", None)
        if not token:
            if _header(scope, b"origin") is None:  # no browser: no session cookie counts
                scope["auth_error"] = "Authentication required"
                return self.app(scope, receive, send)
            return self._load_then_call(self._from_session_cookie, scope, receive, send)
        try:
            claims = access_claims(token)
        except InvalidCredentials:
            scope["auth_error"] = INVALID_TOKEN
            return self.app(scope, receive, send)
        if claims.kind == STAFF and getattr(routed_consumer(self.app, scope), "verifies_principal", False):
            scope["principal"] = Principal(kind=STAFF, user=ClaimedUser(claims.user_id), expires_at=claims.expires_at)
            return self.app(scope, receive, send)
        return self._load_then_call(lambda scope: self._from_claims(scope, claims), scope, receive, send)

    async def _load_then_call(self, load, scope, receive, send):
        try:
            await load(scope)
        except Exception as exc:
            if not is_outage(exc):
                raise
            # The consumer accepts and closes 1011 after an ``unavailable`` frame, instead of a
            # failed handshake the browser would see as 1006 with no reason.
            log.error("socket handshake: service unavailable (%s)", type(exc).__name__)
            scope["principal"], scope["unavailable"] = None, True
        return await self.app(scope, receive, send)

    @staticmethod
    async def _from_claims(scope, claims):
        try:
            scope["principal"] = await database_sync_to_async(principal_from_claims)(claims)
        except InvalidCredentials:
            scope["auth_error"] = INVALID_TOKEN

    @staticmethod
    async def _from_session_cookie(scope):
        user = await database_sync_to_async(user_from_session_cookie)(scope)
        if user is not None:
            scope["principal"] = Principal(kind=STAFF, user=user)
        else:
            scope["auth_error"] = "Authentication required"
