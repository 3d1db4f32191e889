"""Under DEBUG (``make run``) a UI on its own dev server may call Fiko: any
``http://localhost:<port>`` and ``http://127.0.0.1:<port>`` is an allowed origin, for REST
(CORS, the preflight included) and for sockets (SPEC.md, ALLOWED_ORIGINS). Anything else is
refused, and without DEBUG only ALLOWED_ORIGINS and the server's own origin are allowed.
Checked on real server processes, as a browser's requests reach them."""
import asyncio
import json
import urllib.error
import urllib.request

import pytest
import websockets
from websockets.exceptions import InvalidStatus

from tests.live_servers import APPLICATION, Server
from tests.sockets import staff_token

pytestmark = pytest.mark.django_db(transaction=True)

DEV_ORIGINS = ["http://localhost:5173", "http://localhost:3000", "http://127.0.0.1:8080", "http://127.0.0.1:1"]
NEVER = [
    "http://evil.example", "http://evil.example:5173", "https://localhost:5173", "http://localhost",
    "http://localhost.evil.example:5173", "http://127.0.0.1.evil.example:3000", "http://localhost:5173.evil.example",
    "http://[::1]:5173", "http://localhost:5173/", "null",
]
APP_ORIGIN = "https://app.example.com"


@pytest.fixture(scope="module")
def debug_server(django_db_setup, tmp_path_factory):
    """As under `make run`: Daphne with DEBUG on and no ALLOWED_ORIGINS."""
    server = Server("daphne", APPLICATION, tmp_path_factory.mktemp("servers"),
                    env={"DEBUG": "true", "ALLOWED_ORIGINS": ""}, name="daphne-debug")
    yield server
    server.stop()


@pytest.fixture(scope="module")
def production_server(django_db_setup, tmp_path_factory):
    """DEBUG off, one frontend listed in ALLOWED_ORIGINS."""
    server = Server("uvicorn", APPLICATION, tmp_path_factory.mktemp("servers"),
                    env={"DEBUG": "false", "ALLOWED_ORIGINS": APP_ORIGIN}, name="uvicorn-production")
    yield server
    server.stop()


def preflight(server, origin: str) -> tuple[int, dict]:
    """What a browser sends before a cross-origin GET with an Authorization header."""
    request = urllib.request.Request(server.http_url("/api/conversations/"), method="OPTIONS", headers={
        "Origin": origin, "Access-Control-Request-Method": "GET",
        "Access-Control-Request-Headers": "authorization"})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, {k.lower(): v for k, v in response.headers.items()}
    except urllib.error.HTTPError as error:
        return error.code, {k.lower(): v for k, v in error.headers.items()}


def cross_origin_get(server, origin: str, token: str) -> tuple[int, dict, dict]:
    request = urllib.request.Request(server.http_url("/api/conversations/"), headers={
        "Origin": origin, "Authorization": f"Bearer {token}"})
    with urllib.request.urlopen(request, timeout=10) as response:
        return response.status, {k.lower(): v for k, v in response.headers.items()}, json.loads(response.read())


def assert_cors_allowed(server, origin: str, token: str):
    status, headers = preflight(server, origin)
    assert status == 200, (origin, status)
    assert headers.get("access-control-allow-origin") == origin, (origin, headers)
    assert "authorization" in headers.get("access-control-allow-headers", "").lower()
    status, headers, body = cross_origin_get(server, origin, token)
    assert status == 200 and headers.get("access-control-allow-origin") == origin
    assert body["count"] == 0 and body["results"] == []  # the real answer reaches the page


def assert_cors_refused(server, origin: str, token: str):
    status, headers = preflight(server, origin)
    assert "access-control-allow-origin" not in headers, (origin, headers)  # the browser blocks it
    status, headers, _ = cross_origin_get(server, origin, token)
    assert "access-control-allow-origin" not in headers, (origin, headers)


def socket_opens(server, origin: str, token: str) -> bool:
    """True when a browser socket from ``origin`` opens and answers; False when the handshake
    is refused: 403 (the browser sees 1006), or 400 from Daphne's own check of a malformed
    Origin (``http://localhost:5173.evil.example``)."""
    async def attempt():
        try:
            async with websockets.connect(server.url(f"/ws/conversations/?token={token}"), origin=origin,
                                          open_timeout=10) as ws:
                await ws.send(json.dumps({"type": "ping"}))
                while True:
                    frame = json.loads(await asyncio.wait_for(ws.recv(), 10))
                    if frame["type"] == "pong":
                        return True
        except InvalidStatus as refused:
            assert refused.response.status_code in (400, 403), refused
            return False

    return asyncio.run(attempt())


def test_debug_allows_every_local_dev_server_origin(debug_server, staff):
    token = staff_token(staff)
    for origin in DEV_ORIGINS:
        assert_cors_allowed(debug_server, origin, token)
        assert socket_opens(debug_server, origin, token), origin


def test_debug_refuses_every_other_origin(debug_server, staff):
    token = staff_token(staff)
    for origin in [*NEVER, APP_ORIGIN]:
        assert_cors_refused(debug_server, origin, token)
        assert not socket_opens(debug_server, origin, token), origin
    # No Origin at all (a CLI, a mobile app) still works with a token, as ever.
    assert socket_opens(debug_server, None, token)


def test_without_debug_only_allowed_origins_and_the_own_origin(production_server, staff):
    token = staff_token(staff)
    assert_cors_allowed(production_server, APP_ORIGIN, token)
    assert socket_opens(production_server, APP_ORIGIN, token)
    own = f"http://127.0.0.1:{production_server.port}"
    assert socket_opens(production_server, own, token)
    for origin in [*DEV_ORIGINS, *NEVER]:
        if origin == own:
            continue
        assert_cors_refused(production_server, origin, token)
        assert not socket_opens(production_server, origin, token), origin
