"""Drive the real ASGI application (auth middleware, routing, consumers) over WebSockets."""
from channels.testing import WebsocketCommunicator

from fiko.asgi import application
from fiko.tokens import customer_tokens_for, staff_tokens_for


def staff_token(user) -> str:
    return staff_tokens_for(user)["access"]


def customer_token(customer) -> str:
    return customer_tokens_for(customer)["access"]


async def connect(path: str, token: str | None = None, *, headers=None, subprotocols=None):
    """Connect; returns (communicator, connected, close_code_or_subprotocol)."""
    url = path if token is None else f"{path}{'&' if '?' in path else '?'}token={token}"
    communicator = WebsocketCommunicator(application, url, headers=headers or [], subprotocols=subprotocols)
    connected, extra = await communicator.connect(timeout=5)
    return communicator, connected, extra


QUIET = 0.3  # seconds a socket must stay silent when nothing is due


async def drain(communicator, timeout: float = QUIET) -> list[dict]:
    """Every frame that arrives until the socket stays quiet for ``timeout`` seconds
    (receive_nothing does not cancel the application the way a receive timeout does)."""
    frames = []
    while not await communicator.receive_nothing(timeout=timeout):
        frames.append(await communicator.receive_json_from())
    return frames


async def receive_until(communicator, frame_type: str, timeout: float = 3.0) -> dict:
    """The next frame of ``frame_type``, skipping others."""
    while True:
        frame = await communicator.receive_json_from(timeout=timeout)
        if frame.get("type") == frame_type:
            return frame


async def receive_closed_code(communicator, timeout: float = 3.0):
    """Read frames until the server closes; return (frames, close code)."""
    frames = []
    while True:
        message = await communicator.receive_output(timeout)
        if message["type"] == "websocket.close":
            return frames, message.get("code")
        if message["type"] == "websocket.send":
            import json

            frames.append(json.loads(message["text"]))
