"""Many sockets closing at once (a load balancer restart, a deploy; issue 10, item 3): every
disconnect's presence cleanup runs on the one shared, bounded Redis pool (fiko/redis_clients.py),
so none fails (before: 909 ``MaxConnectionsError`` tracebacks for 1,000 sockets) and no presence
entry lingers until its TTL.

A real uvicorn process on this test's database and Redis; 300 real clients on three
conversations, all closed in the same instant.
"""
import asyncio
import json

import pytest
import redis
import websockets
from django.conf import settings

from tests.factories import make_conversation, make_customer
from tests.live_servers import APPLICATION, Server
from tests.sockets import staff_token

pytestmark = pytest.mark.django_db(transaction=True)
SOCKETS = 300
WAIT = 60.0


@pytest.fixture
def server(tmp_path, redis_url):
    server = Server("uvicorn", APPLICATION, tmp_path)
    yield server
    server.stop()


@pytest.fixture
def conversations(workspace):
    return [make_conversation(workspace, make_customer(workspace, first_name=f"C{n}")) for n in range(3)]


async def test_300_sockets_closing_at_once_leave_presence_cleanly(server, conversations, staff):
    token = staff_token(staff)
    gate = asyncio.Semaphore(50)

    async def open_one(n: int):
        async with gate:
            ws = await websockets.connect(server.url(f"/ws/chat/{conversations[n % 3].pk}/?token={token}"),
                                          open_timeout=WAIT)
            while json.loads(await asyncio.wait_for(ws.recv(), WAIT)).get("type") != "recent_messages":
                pass
            await ws.send(json.dumps({"type": "ping"}))  # answered after connect ran to the end
            while json.loads(await asyncio.wait_for(ws.recv(), WAIT)).get("type") != "pong":
                pass
            return ws

    sockets = await asyncio.gather(*(open_one(n) for n in range(SOCKETS)))
    presence = redis.Redis.from_url(settings.REDIS_URL)
    keys = [f"fiko:presence:conversation:{conversation.pk}" for conversation in conversations]
    assert sum(presence.zcard(key) for key in keys) == SOCKETS, "presence holds every open socket"

    await asyncio.gather(*(ws.close() for ws in sockets))  # all at once

    loop = asyncio.get_running_loop()
    deadline = loop.time() + WAIT
    while any(presence.zcard(key) for key in keys):  # presence entries are a sorted set per key
        assert loop.time() < deadline, f"presence entries left: {[presence.zcard(key) for key in keys]}"
        await asyncio.sleep(0.1)
    log = server.log()
    assert "Traceback" not in log and "MaxConnectionsError" not in log, log[-4000:]

