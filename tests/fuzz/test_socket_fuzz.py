"""Every socket route, every inbound frame type, every field a handler reads, with hostile values
(tests/fuzz/hostile.py), through the real ASGI application (auth middleware, routing,
consumers) with ``WebsocketCommunicator``.

Routes, frame types and fields come from the code (socket_surface.py). One test per (route,
frame type); each sends the whole catalogue into every field as explicit examples, then values
Hypothesis generates, plus a test per route for the frame as a whole (``type``, an extra key,
the whole frame replaced). After each hostile frame the test sends ``ping``; invariants:

- no ``server_error`` among the answers, and ``pong`` comes: the socket is neither closed nor
  stuck;
- a frame that is not acceptable JSON (deeper than 32 levels, a lone surrogate or a NUL) is
  answered ``invalid_json`` (or ``too_long`` when it is over the frame limit);
- a frame answered with an error changed no row; a ``javascript:``/``data:`` URL never comes
  back as a stored message's media; an id in other scripts' digits, signed, spaced or past
  bigint is refused, not read as an id;
- error frames carry ``error``, ``message`` and ``code``, and nothing echoes a lone surrogate;
- nothing at ERROR or with a traceback in the log.

Typing is switched on (``FIKO_CHAT_TYPING``) so that ``typing`` frames are parsed, not dropped.
A socket takes at most 38 frames here (under the per-socket burst of 40; nothing waits for the
bucket to refill): past that, the next case opens a fresh socket. The handshake itself gets
hostile tokens and path ids in ``test_socket_connect_survives_hostile_token_and_path``.
"""
from __future__ import annotations

import asyncio
import json
import re
import threading

import pytest
from channels.layers import get_channel_layer
from channels.testing import WebsocketCommunicator
from django.test.utils import override_settings
from hypothesis import example, given
from hypothesis import strategies as st

from fiko import fanout, presence, redis_clients
from fiko.asgi import application

from . import hostile as H
from .conftest import fuzz_settings
from .socket_surface import frame_fields, frame_types, same_handler_as, socket_routes
from .world import (STATS, BadAnswer, BadIdAccepted, NotInvalidJSON, ScriptURLAccepted, ServerError, SocketBroken,
                    TracebackLogged, WroteOnReject, fail, id_kind, make_world, snapshot, snapshot_diff)

pytestmark = [pytest.mark.fuzz, pytest.mark.django_db(transaction=True)]

FRAME_BUDGET = 38  # under the burst of 40: the rate limit never answers for the input
MAX_FRAME_BYTES = 64 * 1024
SCRIPT_URL = re.compile(r"^\s*(javascript|vbscript|data):", re.IGNORECASE)
WHOLE_FRAME = ("type", "key", "raw")  # slots of the frame itself


@pytest.fixture
def socket_world(transactional_db, platform_sim):
    presence._memory.keys.clear()
    redis_clients.forget()
    world = make_world()
    yield world
    presence._memory.keys.clear()
    redis_clients.forget()


class LoopThread:
    """One event loop in a thread of its own for the whole test: sockets stay open across
    Hypothesis examples, and channels-redis and the communicator see a single loop."""

    def __init__(self):
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.ending: list[asyncio.Task] = []

    def finish_later(self, comm) -> None:
        """End a socket in the background (call from the loop). A consumer the server closed
        at once may still be connecting its channel-layer client, and a redis-py connection
        cancelled mid-handshake takes its socket timeout to give up: these waits overlap
        instead of adding up."""
        self.ending.append(asyncio.ensure_future(finish(comm)))

    def run(self, coroutine, timeout: float = 60):
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout)

    def close(self):
        async def release():
            await asyncio.gather(*self.ending)
            layer = get_channel_layer()
            if hasattr(layer, "close_pools"):
                await layer.close_pools()
            await fanout.hub().aclose()
            await redis_clients.aclose_async_client()
            redis_clients.forget()

        try:
            self.run(release(), timeout=30)
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(5)
            self.loop.close()


async def finish(comm) -> None:
    """End the application behind ``comm`` whatever state it is in (closed by the server,
    crashed, still open), so no task or database connection outlives the test."""
    try:
        await comm.disconnect(timeout=5)
    except BaseException:  # noqa: BLE001 - the application's own exception was already reported
        pass
    if not comm.future.done():
        comm.future.cancel()


async def receive(comm, timeout: float = 10) -> dict:
    """The application's next message; raises its exception as soon as it crashes (the
    communicator's own receive only notices at the end of the timeout), TimeoutError if it
    says nothing for ``timeout`` seconds."""
    getter = asyncio.ensure_future(comm.output_queue.get())
    done, _ = await asyncio.wait({getter, comm.future}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
    if getter in done:
        return getter.result()
    getter.cancel()
    if comm.future.done():
        comm.future.result()  # the application's exception
        raise RuntimeError("the application returned without closing the socket")
    raise asyncio.TimeoutError


async def connect(comm, timeout: float = 10) -> dict:
    """Send the handshake; the application's answer (``websocket.accept`` or ``websocket.close``)."""
    await comm.send_input({"type": "websocket.connect"})
    return await receive(comm, timeout)


def crash(exc: BaseException) -> str:
    return f"the application raised {type(exc).__name__}: {str(exc)[:120]}"


class Socket:
    """A socket on one route, reopened when its frame budget is spent or it broke."""

    def __init__(self, loop: LoopThread, route, world, guard):
        self.loop, self.route, self.world, self.guard = loop, route, world, guard
        self.comm = None
        self.used = 0
        self.rows = None
        self.multiplexed = "join_chat" in frame_types(route.consumer)
        self.token = world.customer_token if route.principal == "customer" else world.staff_token

    def own(self, kind: str) -> int:
        return self.world.resolve(H.Ref("own"), kind, "customer")  # the web chat: no platform sends

    def path(self) -> str:
        path = self.route.path
        for name in re.findall(r"\{([^}]+)\}", path):
            path = path.replace("{" + name + "}", str(self.own(id_kind(name) or "conversation")))
        return f"{path}?token={self.token}"

    async def _exchange(self, texts: list[str], may_pong: bool = False) -> tuple[list[dict], str | None]:
        """Send ``texts`` and then ``ping``; return the frames before ``pong``, and what went
        wrong if the socket closed or stopped answering. ``may_pong``: the text is a ping
        itself, whose own pong (when it is the first answer) is not the probe's."""
        for text in texts:
            await self.comm.send_to(text_data=text)
        await self.comm.send_to(text_data='{"type":"ping"}')
        self.used += len(texts) + 1
        STATS["frames"] += len(texts) + 1
        frames = []
        while True:
            try:
                output = await receive(self.comm)
            except asyncio.TimeoutError:
                self.loop.finish_later(self.comm)
                self.comm = None
                return frames, "no pong within 10 s"
            except Exception as exc:  # noqa: BLE001
                self.loop.finish_later(self.comm)
                self.comm = None
                return frames, crash(exc)
            if output["type"] == "websocket.close":
                self.loop.finish_later(self.comm)
                self.comm = None
                return frames, f"socket closed with {output.get('code')}"
            if output["type"] != "websocket.send":
                continue
            try:
                frame = json.loads(output.get("text") or "")
            except ValueError:
                return frames, f"a frame that is not JSON: {(output.get('text') or '')[:80]!r}"
            if frame.get("type") == "pong" and not (may_pong and not frames):
                return frames, None
            frames.append(frame)

    async def _open(self):
        if self.comm is not None:
            await finish(self.comm)
        self.comm = WebsocketCommunicator(application, self.path())
        answer = await connect(self.comm)
        assert answer["type"] == "websocket.accept", f"could not connect to {self.route}: {answer}"
        STATS["sockets"] += 1
        self.used = 0
        hello = [json.dumps({"type": "join_chat", "chat_id": self.own("conversation")})] if self.multiplexed else []
        _, problem = await self._exchange(hello)
        assert problem is None, f"{self.route}: fresh socket broken: {problem}"

    async def _case(self, text: str, rejoin: bool, may_pong: bool):
        if self.comm is None or self.used + 3 > FRAME_BUDGET or rejoin:
            await self._open()
        frames, problem = await self._exchange([text], may_pong)
        if may_pong and frames and frames[0].get("type") == "pong":
            frames = frames[1:]  # the hostile ping's own answer
        return frames, problem

    def case(self, text: str, rejoin: bool, may_pong: bool = False):
        return self.loop.run(self._case(text, rejoin, may_pong))

    def close(self):
        if self.comm is not None:
            self.loop.run(finish(self.comm))
            self.comm = None


class SocketFuzz:
    def __init__(self, socket: Socket, frame_type: str):
        self.socket, self.frame_type = socket, frame_type
        self.fields = frame_fields(socket.route.consumer, frame_type) if frame_type != "*" else ()
        self.rejoin = False

    def valid(self, name: str):
        socket = self.socket
        if name == "chat_id":
            return socket.own("conversation")
        if name == "message_id":
            return socket.own("message")
        if name == "content":
            return "fuzz message"
        if name == "token":
            return socket.token
        if name == "search_term":
            return "sara"
        if name == "is_typing" and self.frame_type == "typing":
            return True
        return None

    def resolve(self, slot: str, value):
        """Refs become the real ids they stand for (the web chat's, for staff and customer)."""
        if isinstance(value, H.Ref):
            return self.socket.world.resolve(value, id_kind(slot.split(".")[-1]) or "conversation", "customer")
        return value

    def frame(self, slot: str, value) -> tuple[str, bool]:
        """The frame's text with ``value`` in ``slot``, and whether it must be refused as
        invalid JSON."""
        frame = {"type": self.frame_type if self.frame_type != "*" else "ping"}
        for name in self.fields:
            if "." not in name and self.valid(name) is not None:
                frame[name] = self.valid(name)
        if slot == "type":
            frame = {"type": value}
        elif slot == "key":
            key = value if isinstance(value, str) else H.text_bytes(value).decode("utf-8", "surrogatepass")
            frame[key] = 1
            return H.dumps(frame).decode(), H.is_invalid_json(key)
        elif slot == "raw":
            return H.dumps(value).decode(), H.is_invalid_json(value, depth=0)
        elif "." in slot:
            outer, inner = slot.split(".", 1)
            frame[outer] = {inner: value}
            return H.dumps(frame).decode(), H.is_invalid_json(value, depth=2)
        else:
            frame[slot] = value
        return H.dumps(frame).decode(), H.is_invalid_json(value, depth=1)

    def check(self, slot: str, hostile: H.Hostile):
        value = self.resolve(slot, hostile.value)
        text, refused = self.frame(slot, value)
        socket = self.socket
        before = socket.rows or snapshot()
        socket.rows = None
        socket.guard.take()
        try:  # a hostile frame that is still a ping may answer its own pong first
            parsed = json.loads(text)
            may_pong = isinstance(parsed, dict) and parsed.get("type") == "ping"
        except (ValueError, RecursionError):
            may_pong = False
        frames, broken = socket.case(text, self.rejoin, may_pong=may_pong)
        self.rejoin = any(frame.get("type") == "left" for frame in frames)  # leave_chat worked: join again
        shown = H.short(hostile.value) + (f" ({H.short(value)})" if isinstance(hostile.value, H.Ref) else "")
        where = f"{socket.route} {self.frame_type} {slot}={shown}"
        errors = [f for f in frames if f.get("type") == "error"]
        codes = [f.get("code") for f in errors]
        problems = []
        if "server_error" in codes:
            STATS["server_error"] += 1
            problems.append((ServerError, f"server_error: {errors[codes.index('server_error')]}"))
        if broken:
            problems.append((SocketBroken, broken))
        problems += [(TracebackLogged, line) for line in socket.guard.bad(socket.guard.take())]
        for frame in errors:
            if not all(isinstance(frame.get(key), str) and frame[key] for key in ("error", "message", "code")):
                problems.append((BadAnswer, f"error frame without error/message/code: {str(frame)[:120]}"))
        if any(H.has_bad_char(frame) for frame in frames):
            problems.append((BadAnswer, "a frame echoes a lone surrogate or a NUL"))
        too_long = len(text.encode()) > MAX_FRAME_BYTES and "too_long" in codes  # the size check comes first
        if refused and "invalid_json" not in codes and not too_long:
            problems.append((NotInvalidJSON, f"answered {codes or [f.get('type') for f in frames]}"))
        if slot not in WHOLE_FRAME and id_kind(slot.split(".")[-1]) and H.bad_id(value) and not errors:
            answered = [f.get("type") for f in frames]
            problems.append((BadIdAccepted, f"read as an id instead of refused: answered {answered}"))
        if errors:
            socket.rows = snapshot()
            changed = snapshot_diff(before, socket.rows)
            if changed:
                problems.append((WroteOnReject, f"answered {codes} but wrote: {', '.join(changed)}"))
        for frame in frames:
            message = frame.get("message") if isinstance(frame.get("message"), dict) else {}
            for key in ("media_url", "thumbnail_url"):
                if isinstance(message.get(key), str) and SCRIPT_URL.match(message[key]):
                    problems.append((ScriptURLAccepted, f"a stored message has {key}={message[key][:60]!r}"))
        fail(problems, where)


def cases():
    for route in socket_routes():
        yield pytest.param(route, "*", id=f"{route} whole frame")
        for frame_type in frame_types(route.consumer):
            yield pytest.param(route, frame_type, id=f"{route} {frame_type}")


@pytest.mark.parametrize("route, frame_type", list(cases()))
def test_socket_frame_survives_hostile_values(route, frame_type, socket_world, log_guard):
    loop = LoopThread()
    socket = Socket(loop, route, socket_world, log_guard)
    fuzz = SocketFuzz(socket, frame_type)
    # A frame without fields, or whose handler is the same code as an earlier type's (fuzzed
    # there), gets a hostile extra key; the frame as a whole is fuzzed under "whole frame".
    if frame_type == "*":
        slots = list(WHOLE_FRAME)
    elif same_handler_as(route.consumer, frame_type):
        slots = ["key"]
    else:
        slots = list(fuzz.fields) or ["key"]
    try:
        def one(slot, value):
            fuzz.check(slot, value)

        check = given(slot=st.sampled_from(slots), value=H.hostile())(one)
        for slot in slots:
            for value in H.canonical():
                check = example(slot=slot, value=value)(check)
        with override_settings(FIKO_CHAT_TYPING=True):
            fuzz_settings(scale=len(slots))(check)()
    finally:
        socket.close()
        loop.close()


def connect_cases():
    for route in socket_routes():
        yield pytest.param(route, "token", id=f"{route} ?token=")
        for name in re.findall(r"\{([^}]+)\}", route.path):
            yield pytest.param(route, name, id=f"{route} {{{name}}}")


@pytest.mark.parametrize("route, slot", list(connect_cases()))
def test_socket_connect_survives_hostile_token_and_path(route, slot, socket_world, log_guard, settings):
    """A hostile token (``?token=``) or path id (``/ws/chat/<id>/``): the socket is accepted,
    told why in an error frame and closed with 1008 (token) or 4404 (not found) — never an
    exception, a ``server_error`` or a 1011, whatever the value.

    The handshake does not involve the channel layer, so this test uses the in-memory one: a
    consumer refused at once is still connecting its Redis client when it ends, and redis-py
    takes its socket timeout (seconds) to give up a connection cancelled mid-handshake."""
    settings.CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    loop = LoopThread()
    socket = Socket(loop, route, socket_world, log_guard)
    expected = 1008 if slot == "token" else 4404

    async def attempt(url: str):
        comm = WebsocketCommunicator(application, url)
        STATS["sockets"] += 1
        try:
            return await exchange(comm)
        except asyncio.TimeoutError:
            return [], "no answer within 10 s"
        except Exception as exc:  # noqa: BLE001
            return [], crash(exc)
        finally:
            loop.finish_later(comm)

    async def exchange(comm):
        if (await connect(comm))["type"] != "websocket.accept":
            return [], "refused at the handshake (browsers would see no code)"
        await comm.send_to(text_data='{"type":"ping"}')
        STATS["frames"] += 1
        frames = []
        while True:
            output = await receive(comm)
            if output["type"] == "websocket.close":
                code = output.get("code")
                return frames, None if code == expected else f"closed with {code}, expected {expected}"
            if output["type"] == "websocket.send":
                frame = json.loads(output["text"])
                if frame.get("type") == "pong":
                    return frames, f"stayed open (expected a close with {expected})"
                frames.append(frame)

    def one(value):
        value = value.value
        if isinstance(value, H.Ref):
            value = socket_world.resolve(value, id_kind(slot) or "conversation", "customer")
        text = H.path_segment(value).replace("%2F", "%252F")  # one segment, as in a URL
        if slot == "token":
            url = f"{socket.path().split('?')[0]}?token={text}"
        else:
            url = socket.path().replace(f"/{socket.own(id_kind(slot) or 'conversation')}/", f"/{text}/", 1)
        log_guard.take()
        frames, problem = loop.run(attempt(url))
        problems = [(SocketBroken, problem)] if problem else []
        codes = [f.get("code") for f in frames if f.get("type") == "error"]
        if "server_error" in codes:
            problems.insert(0, (ServerError, f"server_error: {frames}"))
        problems += [(TracebackLogged, line) for line in log_guard.bad(log_guard.take())]
        fail(problems, f"{route} {slot}={H.short(value)}")

    check = given(value=H.hostile())(one)
    for value in H.canonical():
        check = example(value=value)(check)
    try:
        fuzz_settings()(check)()
    finally:
        loop.close()
