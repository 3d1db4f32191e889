"""What a real client receives from real servers: Daphne and uvicorn subprocesses serving
fiko.asgi:application against this test's database, driven with the `websockets` client.

SPEC.md: both servers must behave identically, close codes included. Under Daphne, 1008 only
reaches the client thanks to fiko/daphne_close.py (autobahn's sendClose refuses it); the last
tests show that with bare ASGI apps. Also checks that tokens and secrets stay out of the
servers' logs (fiko/log_redaction.py).
"""
import asyncio
import json
import urllib.error
import urllib.request

import pytest
import websockets
from websockets.exceptions import ConnectionClosed, InvalidStatus

from tests.fiko.token_helpers import staff_access_token
from tests.live_servers import APPLICATION, BIN, SERVER_COMMANDS, Server
from tests.sockets import customer_token, staff_token

pytestmark = pytest.mark.django_db(transaction=True)

BIG_FRAME = '{"type":"ping","pad":"' + "x" * (100 * 1024) + '"}'


@pytest.fixture(scope="module", params=sorted(SERVER_COMMANDS))
def server(request, django_db_setup, tmp_path_factory):
    """One Daphne and one uvicorn for the module, on the test database (rows written by the
    tests are committed: transaction=True)."""
    if not (BIN / request.param).exists():
        pytest.skip(f"{request.param} is not installed in {BIN}")
    running = Server(request.param, APPLICATION, tmp_path_factory.mktemp("servers"))
    try:
        yield running
    finally:
        running.stop()


async def read_until_closed(ws, timeout: float = 5) -> tuple[list[dict], int | None]:
    frames = []
    try:
        while True:
            frames.append(json.loads(await asyncio.wait_for(ws.recv(), timeout)))
    except ConnectionClosed:
        return frames, ws.close_code


async def assert_closed_1008(server, path: str, reason: str):
    async with websockets.connect(server.url(path)) as ws:
        frames, code = await read_until_closed(ws)
    assert code == 1008, f"{server.kind}: {code}"
    assert frames[0]["type"] == "error" and frames[0]["error"] == reason


async def assert_ping_pong(ws):
    await ws.send(json.dumps({"type": "ping"}))
    while True:
        frame = json.loads(await asyncio.wait_for(ws.recv(), 5))
        if frame["type"] == "pong":
            return frame


# --- close codes ---------------------------------------------------------------------------
async def test_no_token_is_closed_1008(server, db):
    await assert_closed_1008(server, "/ws/customers/", "Authentication required")
    await assert_closed_1008(server, "/api/v1/chat/ws/chat/user", "Authentication required")


async def test_bad_tokens_are_closed_1008(server, staff, customer):
    await assert_closed_1008(server, "/ws/conversations/?token=garbage", "Invalid or expired token")
    expired = staff_access_token(staff, seconds=-1)
    await assert_closed_1008(server, f"/ws/conversations/?token={expired}", "Invalid or expired token")
    await assert_closed_1008(server, f"/ws/customers/?token={customer_token(customer)}", "A staff token is required")
    await assert_closed_1008(server, f"/api/v1/chat/ws/chat/customer?token={staff_token(staff)}",
                             "A customer token is required")


async def test_valid_token_ping_pong(server, staff):
    async with websockets.connect(server.url(f"/ws/customers/?token={staff_token(staff)}")) as ws:
        assert (await assert_ping_pong(ws))["timestamp"].endswith("Z")


async def test_bearer_subprotocol(server, staff):
    async with websockets.connect(server.url("/ws/conversations/"), subprotocols=["bearer", staff_token(staff)]) as ws:
        assert ws.subprotocol == "bearer"
        await assert_ping_pong(ws)


async def test_missing_conversation_is_closed_4404(server, staff):
    async with websockets.connect(server.url(f"/ws/chat/999999/?token={staff_token(staff)}")) as ws:
        frames, code = await read_until_closed(ws)
    assert code == 4404 and frames[0]["type"] == "error"


async def test_oversize_frame_is_refused_and_the_server_survives(server, staff):
    token = staff_token(staff)
    async with websockets.connect(server.url(f"/ws/customers/?token={token}")) as ws:
        await ws.send(BIG_FRAME)
        try:
            frame = json.loads(await asyncio.wait_for(ws.recv(), 5))
            assert frame["type"] == "error" and frame["code"] == "too_long"
            await assert_ping_pong(ws)  # and this socket stays usable
        except ConnectionClosed:
            assert ws.close_code == 1009
    async with websockets.connect(server.url(f"/ws/customers/?token={token}")) as ws:
        await assert_ping_pong(ws)


async def test_token_expiring_while_connected_is_closed_1008(server, staff):
    async with websockets.connect(server.url(f"/ws/customers/?token={staff_access_token(staff, seconds=2)}")) as ws:
        await assert_ping_pong(ws)
        frames, code = await read_until_closed(ws, timeout=6)
    assert code == 1008 and frames[-1]["code"] == "token_expired"


async def test_origin_guard_at_the_handshake(server, staff):
    token = staff_token(staff)
    with pytest.raises(InvalidStatus) as refused:
        async with websockets.connect(server.url(f"/ws/customers/?token={token}"), origin="https://evil.example.net"):
            pass
    assert refused.value.response.status_code == 403
    own = f"http://127.0.0.1:{server.port}"  # the websockets client sends Host: 127.0.0.1:<port>
    async with websockets.connect(server.url(f"/ws/customers/?token={token}"), origin=own) as ws:
        await assert_ping_pong(ws)


# --- logs ----------------------------------------------------------------------------------
def _http_get(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code


async def test_tokens_and_secrets_never_reach_the_server_log(server, staff):
    token = staff_token(staff)
    async with websockets.connect(server.url(f"/ws/customers/?token={token}")) as ws:
        await assert_ping_pong(ws)
    secret = "verify-secret-8c1f"
    path = f"/integrations/instagram/999999/webhook/?hub.mode=subscribe&hub.verify_token={secret}&hub.challenge=42"
    await asyncio.to_thread(_http_get, f"http://127.0.0.1:{server.port}{path}")
    await asyncio.sleep(0.5)  # let the server write its lines
    log = server.log()
    assert token not in log and token.split(".")[2] not in log
    assert secret not in log
    assert "Logging error" not in log and "Traceback" not in log
    # the lines are there, redacted (so this test would see a leak)
    assert "/integrations/instagram/999999/webhook/?hub.mode=subscribe&hub.verify_token=[redacted]" in log
    if server.kind == "uvicorn":
        assert '"WebSocket /ws/customers/?token=[redacted]" [accepted]' in log
    else:
        assert '"WSCONNECT /ws/customers/"' in log  # Daphne logs the path without its query


# --- the Daphne adapter, shown on a bare app -------------------------------------------------
@pytest.mark.parametrize("app, expected_1008", [("plain_application", False), ("adapted_application", True)])
async def test_daphne_sends_1008_only_with_the_adapter(tmp_path, app, expected_1008):
    if not (BIN / "daphne").exists():
        pytest.skip("daphne is not installed")
    server = await asyncio.to_thread(Server, "daphne", f"tests.fiko.close_code_apps:{app}", tmp_path)
    try:
        async with websockets.connect(server.url("/")) as ws:
            _, code = await read_until_closed(ws)
    finally:
        await asyncio.to_thread(server.stop)
    assert (code == 1008) is expected_1008, f"{app}: close code {code}"
    if not expected_1008:
        assert code in (1006, 1011), code  # what a browser would have seen without the adapter
