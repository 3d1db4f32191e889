"""ASGI guard: the client's address and scheme as a trusted reverse proxy reports them.

Behind nginx every connection comes from the proxy, so ``REMOTE_ADDR`` is the proxy's address:
the login throttle (fiko/login_throttle.py) would lock everyone out together, and every log
line would name the proxy. The proxy says who the client is in ``X-Forwarded-For`` and which
scheme it spoke in ``X-Forwarded-Proto`` — but anyone can send those headers, so they count
only when the peer itself is listed in ``TRUSTED_PROXIES`` (addresses or networks,
``10.0.0.0/8``). Then ``X-Forwarded-For`` is read from the right, skipping hops that are
trusted proxies themselves, and the first address that is not is the client; what a client
wrote to the left of that is ignored. Everything downstream (Django's ``REMOTE_ADDR`` and
``request.is_secure()``, sockets, logs) sees the result in ``scope["client"]`` and
``scope["scheme"]``.

Django's ``SECURE_PROXY_SSL_HEADER`` stays unset on purpose: Django would believe that header
from any peer. The server's own proxy-header handling stays off too (uvicorn
``--no-proxy-headers``), so this module is the one place that decides.
"""
import ipaddress

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

_SCHEMES = {"http": {"http": "http", "https": "https"}, "websocket": {"http": "ws", "https": "wss"}}


def parse_networks(entries) -> tuple:
    networks = []
    for entry in entries:
        try:
            networks.append(ipaddress.ip_network(entry.strip(), strict=False))
        except ValueError:
            raise ImproperlyConfigured(f"TRUSTED_PROXIES: {entry!r} is not an address or a network") from None
    return tuple(networks)


def parse_address(text: str):
    """An IP address from a header hop (``1.2.3.4``, ``::1``, ``[::1]``), or None."""
    text = text.strip()
    if text.startswith("[") and "]" in text:
        text = text[1:text.index("]")]
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


def _in(address, networks) -> bool:
    return any(address in network for network in networks)


def resolve_client(peer: str, forwarded_for: list[str], networks) -> str:
    """The client address: ``peer`` unless ``peer`` is a trusted proxy, then the right-most
    ``X-Forwarded-For`` hop that is not a trusted proxy (an unreadable hop stops the walk)."""
    peer_address = parse_address(peer)
    if peer_address is None or not _in(peer_address, networks):
        return peer
    client = peer
    for hop in reversed(forwarded_for):
        address = parse_address(hop)
        if address is None:
            break
        client = str(address)
        if not _in(address, networks):
            break
    return client


def _headers(scope, name: bytes) -> list[str]:
    values = []
    for key, value in scope.get("headers") or ():
        if key.lower() == name:
            values.extend(part for part in value.decode("latin-1").split(",") if part.strip())
    return values


class TrustedProxyHeaders:
    """Rewrites ``scope["client"]`` and ``scope["scheme"]`` from a trusted proxy's headers."""

    def __init__(self, app, trusted=None):
        self.app = app
        self.networks = parse_networks(settings.TRUSTED_PROXIES if trusted is None else trusted)

    async def __call__(self, scope, receive, send):
        if self.networks and scope["type"] in _SCHEMES and scope.get("client"):
            scope = self.resolve(scope)
        return await self.app(scope, receive, send)

    def resolve(self, scope) -> dict:
        """In place, as uvicorn's own proxy-headers middleware does: the server's access log
        reads the same scope, so its lines name the client too."""
        peer = scope["client"][0]
        peer_address = parse_address(peer)
        if peer_address is None or not _in(peer_address, self.networks):
            return scope
        client = resolve_client(peer, _headers(scope, b"x-forwarded-for"), self.networks)
        scope["client"] = (client, 0 if client != peer else scope["client"][1])
        proto = _headers(scope, b"x-forwarded-proto")
        scheme = _SCHEMES[scope["type"]].get(proto[-1].strip().lower()) if proto else None
        if scheme:
            scope["scheme"] = scheme
        return scope
