"""Steady traffic and the clients that must end up holding it, for the drills.

- ``WebhookSender``: customer messages as Telegram webhook updates, each retried (same
  ``update_id``) on any server until one answers 200: the platform's redelivery.
- ``AgentSender``: agent messages as ``chat_message`` frames on ``/ws/chat/<id>/``, each resent
  (same ``client_message_id``) after a reconnect until its echo arrives.
- ``ChatClient``: an agent's ``/ws/chat/<id>/`` socket that reconnects whenever it is closed
  (to its home server, or the other one) and catches up by ``seq`` (``get_messages`` after
  the last message of its gap-free prefix), as SPEC tells clients to: after every reconnect,
  and when a pushed message's ``seq`` jumps past the next one (an event that never came).

Nothing is timed by sleeping on a result: every wait polls with a deadline. The only sleeps are
the senders' pacing and the reconnect back-off, which a real client has too.
"""
import asyncio
import json
import time
import uuid

import httpx
import websockets

RECONNECT_BACKOFF = 0.25
PAGE = 20  # catch-up page size: a page must fit the server's per-socket bound (SOCKET_OUTBOX_MAX_BYTES)
SEND_DEADLINE = 90.0  # a sender gives a message up (counted as not sent) after this


def _alive(servers):
    return [server for server in servers if server.proc.poll() is None]


def _pick(servers, home: int):
    """The ``home`` server while it lives, else the first live one."""
    alive = _alive(servers)
    preferred = servers[home % len(servers)]
    return preferred if preferred in alive else (alive[0] if alive else preferred)


class ChatClient:
    def __init__(self, name: str, servers: list, home: int, conversation_id: int, token: str):
        self.name, self.servers, self.home = name, servers, home
        self.conversation_id, self.token = conversation_id, token
        self.held: dict[int, dict] = {}  # message id -> message
        self.live_duplicates = 0  # a message pushed twice on one connection (a server bug)
        self.gap_fetches = 0  # catch-ups started by a seq gap on a live connection
        self.connections = 0
        self.close_codes: list = []
        self.errors: list[str] = []
        self.caught_up = False  # connected, and the last catch-up page said nothing more
        self.caught_up_at = 0.0
        self._stopping = False
        self._ws = None
        self.task: asyncio.Task | None = None

    def __repr__(self):
        return f"<client {self.name}>"

    def start(self):
        self.task = asyncio.get_running_loop().create_task(self._run())
        return self

    async def stop(self):
        self._stopping = True
        if self._ws is not None:
            await self._ws.close()
        if self.task is not None:
            self.task.cancel()
            await asyncio.gather(self.task, return_exceptions=True)

    def _server(self):
        return _pick(self.servers, self.home)

    def catch_up_from(self) -> int:
        """The id of the last message of the gap-free seq prefix this client holds (0: none)."""
        by_seq = {message["seq"]: message["id"] for message in self.held.values()}
        seq, last = 1, 0
        while seq in by_seq:
            last, seq = by_seq[seq], seq + 1
        return last

    def max_seq(self) -> int:
        return max((message["seq"] for message in self.held.values()), default=0)

    def _merge(self, messages):
        for message in messages:
            self.held[message["id"]] = message

    async def _run(self):
        while not self._stopping:
            server = self._server()
            try:
                async with websockets.connect(server.url(f"/ws/chat/{self.conversation_id}/?token={self.token}"),
                                              open_timeout=5, close_timeout=2, max_size=2 ** 24) as ws:
                    self._ws = ws
                    self.connections += 1
                    await self._session(ws)
                    self.close_codes.append(ws.close_code)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - refused, reset, handshake failure: reconnect
                self.close_codes.append(type(exc).__name__)
            self._ws, self.caught_up = None, False
            if not self._stopping:
                await asyncio.sleep(RECONNECT_BACKOFF)

    async def _session(self, ws):
        pushed: set[int] = set()
        async for raw in ws:
            frame = json.loads(raw)
            kind = frame.get("type")
            if kind in ("recent_messages", "chat_message"):
                messages = frame["messages"] if kind == "recent_messages" else [frame["message"]]
                for message in messages:
                    if message["id"] in pushed:
                        self.live_duplicates += 1
                    pushed.add(message["id"])
                gap = kind == "chat_message" and messages[0]["seq"] > self.max_seq() + 1
                self._merge(messages)
                if gap and self.caught_up:  # SPEC: seq has no gaps, so a jump means one was missed
                    self.gap_fetches += 1
                    self.caught_up = False
                    await ws.send(json.dumps({"type": "get_messages", "after_id": self.catch_up_from(),
                                              "limit": PAGE}))
                if kind == "recent_messages":  # the first frame: catch up from the gap-free prefix
                    after = self.catch_up_from()
                    if after:
                        await ws.send(json.dumps({"type": "get_messages", "after_id": after, "limit": PAGE}))
                    elif not messages or messages[0]["seq"] == 1:  # the whole history fits in it
                        self.caught_up, self.caught_up_at = True, time.monotonic()
                    else:
                        raise AssertionError(f"{self!r}: a first connection with a history longer than "
                                             "recent_messages: these drills do not page backwards")
            elif kind == "messages_page":
                self._merge(frame["messages"])
                if frame["has_more"]:
                    after = max(message["id"] for message in frame["messages"])
                    await ws.send(json.dumps({"type": "get_messages", "after_id": after, "limit": PAGE}))
                else:
                    self.caught_up, self.caught_up_at = True, time.monotonic()
            elif kind == "error":
                self.errors.append(frame.get("code"))
                if not self.caught_up:  # the catch-up failed (database down): start again
                    await ws.close()
                    return


class WebhookSender:
    """Telegram updates from ``customers`` (external ids) in turn, ``interval`` apart."""

    def __init__(self, servers: list, channel_id: int, secret: str, customers: list[int], tag: str):
        self.servers, self.channel_id, self.secret = servers, channel_id, secret
        self.customers, self.tag = customers, tag
        self.sent: list[str] = []  # texts the platform delivered until answered 200
        self.given_up: list[str] = []
        self.retries = 0
        self._update_id = 900_000_000
        self._turn = 0

    def text(self, customer: int, n: int) -> str:
        return f"{self.tag} customer {customer} #{n}"

    async def send_one(self, client: httpx.AsyncClient, customer: int, text: str):
        self._update_id += 1
        update = {"update_id": self._update_id, "message": {
            "message_id": self._update_id - 899_000_000, "date": 1763800000, "text": text,
            "from": {"id": customer, "is_bot": False, "first_name": f"Customer{customer}"},
            "chat": {"id": customer, "first_name": f"Customer{customer}", "type": "private"}}}
        deadline = time.monotonic() + SEND_DEADLINE
        while time.monotonic() < deadline:
            alive = _alive(self.servers) or self.servers
            server = alive[self._turn % len(alive)]
            self._turn += 1
            try:
                response = await client.post(
                    server.http_url(f"/integrations/telegram/{self.channel_id}/webhook/"), json=update,
                    headers={"X-Telegram-Bot-Api-Secret-Token": self.secret})
                if response.status_code == 200:
                    self.sent.append(text)
                    return
            except httpx.HTTPError:
                pass
            self.retries += 1
            await asyncio.sleep(RECONNECT_BACKOFF)
        self.given_up.append(text)

    async def run(self, count: int, interval: float):
        async with httpx.AsyncClient(timeout=10) as client:
            for n in range(count):
                customer = self.customers[n % len(self.customers)]
                await self.send_one(client, customer, self.text(customer, n))
                await asyncio.sleep(interval)


class RestSender:
    """Agent messages through REST (``POST /api/conversations/<id>/messages/``), ``parallel`` at
    a time: many large messages quickly (the slow-client drill)."""

    def __init__(self, servers: list, conversation_id: int, token: str):
        self.servers, self.conversation_id, self.token = servers, conversation_id, token
        self.sent: list[str] = []
        self.given_up: list[str] = []
        self.resends = 0

    async def run(self, texts: list[str], parallel: int = 8):
        queue = list(reversed(texts))
        async with httpx.AsyncClient(timeout=30, headers={"Authorization": f"Bearer {self.token}"}) as client:
            async def worker():
                while queue:
                    text = queue.pop()
                    body = {"content": text, "client_message_id": uuid.uuid4().hex}
                    for _ in range(3):
                        server = (_alive(self.servers) or self.servers)[0]
                        try:
                            response = await client.post(
                                server.http_url(f"/api/conversations/{self.conversation_id}/messages/"), json=body)
                            if response.status_code in (200, 201):
                                self.sent.append(text)
                                break
                        except httpx.HTTPError:
                            pass
                        self.resends += 1
                    else:
                        self.given_up.append(text)

            await asyncio.gather(*(worker() for _ in range(parallel)))


class AgentSender:
    """``chat_message`` frames into one conversation, each until its echo arrives."""

    def __init__(self, name: str, servers: list, home: int, conversation_id: int, token: str, tag: str):
        self.name, self.servers, self.home = name, servers, home
        self.conversation_id, self.token, self.tag = conversation_id, token, tag
        self.sent: list[str] = []
        self.given_up: list[str] = []
        self.resends = 0
        self._ws = None

    def _server(self):
        return _pick(self.servers, self.home)

    async def _connect(self):
        ws = await websockets.connect(self._server().url(f"/ws/chat/{self.conversation_id}/?token={self.token}"),
                                      open_timeout=5, close_timeout=2, max_size=2 ** 24)
        frame = json.loads(await asyncio.wait_for(ws.recv(), 10))
        if frame.get("type") != "recent_messages":
            await ws.close()
            raise ConnectionError(f"first frame {frame.get('type')}: {frame.get('code')}")
        return ws, {message["content"] for message in frame["messages"]}

    async def send_one(self, text: str):
        client_message_id = uuid.uuid4().hex
        deadline = time.monotonic() + SEND_DEADLINE
        while time.monotonic() < deadline:
            try:
                recent = set()
                if self._ws is None:
                    self._ws, recent = await self._connect()
                if text in recent:  # stored before the connection broke
                    self.sent.append(text)
                    return
                await self._ws.send(json.dumps({"type": "chat_message", "content": text,
                                                "client_message_id": client_message_id}))
                async with asyncio.timeout(5):
                    while True:
                        frame = json.loads(await self._ws.recv())
                        if frame.get("type") == "chat_message" and frame["message"]["content"] == text:
                            self.sent.append(text)
                            return
                        if frame.get("type") == "error":
                            raise ConnectionError(frame.get("code"))
            except asyncio.CancelledError:
                raise
            except Exception:  # noqa: BLE001 - closed, unavailable, no echo in time: resend
                self.resends += 1
                if self._ws is not None:
                    await self._ws.close()
                self._ws = None
                await asyncio.sleep(RECONNECT_BACKOFF)
        self.given_up.append(text)

    async def run(self, count: int, interval: float):
        for n in range(count):
            await self.send_one(f"{self.tag} agent {self.name} #{n}")
            await asyncio.sleep(interval)
        if self._ws is not None:
            await self._ws.close()
