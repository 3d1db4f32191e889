"""A socket that stops reading is closed with 1013 after an error frame ``slow_consumer``, the
other sockets of its conversation get everything, in order, and the slow client catches up by
seq when it reconnects (SPEC: close codes; "Nothing missed across reconnects").

Real uvicorn subprocess, real PostgreSQL and Redis, a real client whose TCP receive buffer is
tiny and which does not read: what is queued for it grows on the server until the per-socket
bound (set small here through SOCKET_OUTBOX_MAX_FRAMES / _BYTES) is crossed.
"""
import asyncio
import base64
import json
import os
import socket

import pytest
import websockets
from asgiref.sync import sync_to_async

from conversations.services import message_send
from tests.factories import make_user
from tests.live_servers import APPLICATION, Server
from tests.sockets import connect, receive_until, staff_token

pytestmark = pytest.mark.django_db(transaction=True)

CONTENT = "\U0001F600" * 4000  # 4,000 characters, 16,000 bytes of UTF-8: the largest messages
BATCH = 25
MAX_MESSAGES = 1500


@pytest.fixture
def server(tmp_path, redis_url):
    server = Server("uvicorn", APPLICATION, tmp_path, env={
        "SOCKET_OUTBOX_MAX_FRAMES": "20", "SOCKET_OUTBOX_MAX_BYTES": str(128 * 1024)})
    yield server
    server.stop()


class RawClient:
    """A WebSocket client that reads only when told to: a TCP socket with a tiny receive buffer
    (set before connect, so the kernel does not grow it), the handshake by hand, frames parsed
    by hand. Between reads, nothing drains the socket, so the server's writes back up."""

    async def connect(self, port: int, path: str):
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.setblocking(False)
        await asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", port))
        self.reader, self.writer = await asyncio.open_connection(sock=sock, limit=16 * 1024)
        key = base64.b64encode(os.urandom(16)).decode()
        self.writer.write((f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
                           f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
                           "Sec-WebSocket-Version: 13\r\n\r\n").encode())
        status = await self.reader.readuntil(b"\r\n\r\n")
        assert status.startswith(b"HTTP/1.1 101"), status
        return self

    async def frame(self) -> tuple[int, bytes]:
        """(opcode, payload) of the next frame (the server never fragments ours)."""
        head = await self.reader.readexactly(2)
        opcode, length = head[0] & 0x0F, head[1] & 0x7F
        if length == 126:
            length = int.from_bytes(await self.reader.readexactly(2), "big")
        elif length == 127:
            length = int.from_bytes(await self.reader.readexactly(8), "big")
        return opcode, await self.reader.readexactly(length)

    async def json_frame(self) -> dict | int:
        """The next text frame as JSON, or the close code when the server closes."""
        while True:
            opcode, payload = await self.frame()
            if opcode == 0x1:
                return json.loads(payload)
            if opcode == 0x8:
                return int.from_bytes(payload[:2], "big") if len(payload) >= 2 else 1005


async def _frames_until(ws, predicate, timeout=20.0):
    frames = []
    async with asyncio.timeout(timeout):
        while True:
            frame = json.loads(await ws.recv())
            frames.append(frame)
            if predicate(frame):
                return frames


async def test_a_socket_that_stops_reading_is_closed_1013_and_catches_up_by_seq(server, workspace, staff,
                                                                               conversation):
    slow_user = await sync_to_async(make_user)("slowpoke", workspace=workspace, role="agent")
    path = f"/ws/chat/{conversation.pk}/"
    fast = await websockets.connect(server.url(path) + f"?token={staff_token(staff)}", max_size=None)
    assert json.loads(await fast.recv())["type"] == "recent_messages"
    slow = await RawClient().connect(server.port, path + f"?token={staff_token(slow_user)}")
    assert (await slow.json_frame())["type"] == "recent_messages"
    await _frames_until(fast, lambda f: f["type"] == "user_presence" and f["is_online"])  # slowpoke is here

    # Post 16 KB messages while the slow client reads nothing, until the server gives up on it:
    # the fast socket hears slowpoke leave (an aborted socket leaves at once).
    sent, fast_seqs, slow_gone = 0, [], False
    while not slow_gone and sent < MAX_MESSAGES:
        for _ in range(BATCH):
            await sync_to_async(message_send)(conversation=conversation, user=staff, content=CONTENT)
            sent += 1
        while len(fast_seqs) < sent:  # the fast socket keeps up
            frame = json.loads(await asyncio.wait_for(fast.recv(), 20))
            if frame["type"] == "chat_message":
                fast_seqs.append(frame["message"]["seq"])
            elif frame["type"] == "user_presence" and frame["user_id"] == slow_user.pk:
                slow_gone = not frame["is_online"]
    assert slow_gone, f"the slow socket was still there after {sent} messages of 16 KB"

    # The slow client reads again, at full speed: what was on its way, the slow_consumer frame
    # (best effort), then the close code 1013.
    slow_seqs, errors = [], []
    async with asyncio.timeout(30):
        while isinstance(frame := await slow.json_frame(), dict):
            if frame["type"] == "chat_message":
                slow_seqs.append(frame["message"]["seq"])
            elif frame["type"] == "error":
                errors.append(frame)
    close_code = frame
    assert close_code == 1013, f"after {sent} messages the slow socket ended with {close_code}"
    assert all(error["code"] == "slow_consumer" for error in errors)
    assert 0 < len(slow_seqs) < sent
    assert slow_seqs == list(range(1, len(slow_seqs) + 1))  # what it got is in order, without gaps

    # The fast socket got every message, in order, and is still open.
    assert fast_seqs == list(range(1, sent + 1))
    await fast.send(json.dumps({"type": "ping"}))
    assert (await _frames_until(fast, lambda f: f["type"] == "pong"))[-1]["type"] == "pong"

    # The slow client reconnects and catches up from the last message it saw: nothing is missed.
    again = await websockets.connect(server.url(path) + f"?token={staff_token(slow_user)}", max_size=None)
    assert json.loads(await again.recv())["type"] == "recent_messages"
    last_id = await sync_to_async(_message_id)(conversation.pk, slow_seqs[-1])
    caught_up = []
    while len(slow_seqs) + len(caught_up) < sent:
        await again.send(json.dumps({"type": "get_messages", "after_id": last_id, "limit": 100}))
        page = (await _frames_until(again, lambda f: f["type"] == "messages_page"))[-1]
        assert page["messages"], "the page after the last message seen was empty"
        caught_up += [message["seq"] for message in page["messages"]]
        last_id = page["messages"][-1]["id"]
    assert slow_seqs + caught_up == list(range(1, sent + 1))
    for ws in (fast, again):
        await ws.close()


def _message_id(conversation_id: int, seq: int) -> int:
    from conversations.models import Message

    return Message.objects.get(conversation_id=conversation_id, seq=seq).pk


async def test_one_frame_larger_than_the_bound_is_sent_not_taken_for_a_backlog(settings, staff, conversation):
    """A page of long messages can be larger than the bytes bound; alone in the outbox it is
    no backlog: a client catching up gets it and stays connected (else every reconnect to
    catch up would be closed again)."""
    for _ in range(5):
        await sync_to_async(message_send)(conversation=conversation, user=staff, content=CONTENT)
    settings.SOCKET_OUTBOX_MAX_BYTES = 16 * 1024  # one message's frame fits, a page of five does not
    comm, connected, _ = await connect(f"/ws/chat/{conversation.pk}/", staff_token(staff))
    assert connected
    await receive_until(comm, "recent_messages")
    await comm.send_json_to({"type": "get_messages", "limit": 5})
    page = await receive_until(comm, "messages_page")
    assert len(json.dumps(page["messages"]).encode()) > settings.SOCKET_OUTBOX_MAX_BYTES
    assert [m["seq"] for m in page["messages"]] == [1, 2, 3, 4, 5]
    await comm.send_json_to({"type": "ping"})
    assert (await receive_until(comm, "pong"))["type"] == "pong"
    await comm.disconnect()
