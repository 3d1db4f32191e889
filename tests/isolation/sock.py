"""A socket of the isolation matrix: the real ASGI application, one actor, ping/pong barriers."""
import json

from django.conf import settings

from tests.sockets import connect

FRAME_BUDGET = 36  # frames per connection before reconnecting (the per-socket burst is 40)


class Sock:
    """One actor's connection to one route; ``call`` sends a frame and returns the frames the
    server sends before the ``pong`` that follows it (or the close code if it closes)."""

    def __init__(self, world, path, actor, setup=()):
        self.world, self.path, self.actor, self.setup = world, path, actor, list(setup)
        self.comm = None

    async def open(self):
        headers = []
        if self.actor == "b_session":
            cookie = f"{settings.SESSION_COOKIE_NAME}={self.world.session_cookie}"
            headers = [(b"origin", b"http://testserver"), (b"host", b"testserver"), (b"cookie", cookie.encode())]
        self.comm, connected, _ = await connect("/" + self.path, self.world.tokens.get(self.actor), headers=headers)
        assert connected, f"{self.path} as {self.actor}: handshake refused"
        self.sent = 0
        self.initial, self.closed = await self._until_pong()
        for frame in self.setup:
            frames, _ = await self.call(frame)
            assert not any(f.get("type") == "error" for f in frames), f"setup {frame} failed: {frames}"
        return self

    async def _until_pong(self):
        await self.comm.send_json_to({"type": "ping"})
        self.sent += 1
        frames = []
        while True:
            output = await self.comm.receive_output(timeout=5)
            if output["type"] == "websocket.close":
                self.closed = output.get("code", 1000)
                return frames, self.closed
            frame = json.loads(output["text"])
            if frame.get("type") == "pong":
                return frames, None
            frames.append(frame)

    async def call(self, frame):
        if self.sent + 2 > FRAME_BUDGET:
            await self.close()
            await self.open()
        await self.comm.send_json_to(frame)
        self.sent += 1
        return await self._until_pong()

    async def close(self):
        if self.comm is not None and not self.closed:
            await self.comm.disconnect()
        self.comm = None

    async def read_until(self, *markers: str) -> list[dict]:
        """Every frame up to and including the first one whose text holds one of ``markers`` (an
        event the test caused itself), then everything before the ``pong`` of one more ping."""
        frames = []
        while True:
            output = await self.comm.receive_output(timeout=5)
            if output["type"] == "websocket.close":
                raise AssertionError(f"{self.path} as {self.actor} closed ({output.get('code')}) before {markers}")
            frames.append(json.loads(output["text"]))
            if any(marker in output["text"] for marker in markers):
                break
        more, closed = await self._until_pong()
        assert closed is None, f"{self.path} as {self.actor} closed ({closed})"
        return frames + more

    async def read_until_message(self, message_id: int) -> list[dict]:
        """Every frame up to and including the first one that carries message ``message_id``."""
        frames = []
        while True:
            output = await self.comm.receive_output(timeout=5)
            if output["type"] == "websocket.close":
                raise AssertionError(f"{self.path} as {self.actor} closed ({output.get('code')}) "
                                     f"before message {message_id} was shown")
            frame = json.loads(output["text"])
            frames.append(frame)
            if isinstance(frame.get("message"), dict) and frame["message"].get("id") == message_id:
                return frames
