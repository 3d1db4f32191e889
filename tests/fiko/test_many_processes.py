"""Two server processes, one Redis, one PostgreSQL: what is sent through one process reaches the
sockets on the other (SPEC, "Every event reaches every dialect": "The same holds across server
processes sharing Redis"; issue 9, "Many processes").

Two server subprocesses (A and B, different ports; uvicorn, then Daphne) serve fiko.asgi:application on this test's
database and the same Redis, with ``FIKO_CHAT_TYPING=true``. Real clients (`websockets`, and
urllib for REST) each talk to exactly one process. Every check that names a cross-process path
has its observer on the *other* process from the action, and observers are connected (and
have received their first frame, so they are subscribed) before the action: nothing they are
expected to see can reach them through a handshake read or through their own process alone. A
server that only delivered to its own sockets fails every test here.

Beyond "it arrives", the tests check what a change of the fan-out could break: each frame
arrives exactly once on every socket (a process that delivers locally *and* from its Redis
subscription would double it), a process keeps delivering to its remaining sockets when one of
them leaves, and delivers again to a socket that joins after its last local member left
(subscription dropped and taken again).

No sleeps: every wait is "read frames until the one wanted arrives", with a deadline. Ids and
texts are made unique per test with uuid4, never from the clock.
"""
import asyncio
import json
import urllib.error
import urllib.request
import uuid
from types import SimpleNamespace

import pytest
import websockets
from django.db import connection
from websockets.exceptions import ConnectionClosed

from tests.conftest import REQUIRE_SERVICES, require_service
from tests.factories import make_conversation, make_customer, make_user
from tests.live_servers import APPLICATION, Server
from tests.sockets import customer_token, staff_token

pytestmark = pytest.mark.django_db(transaction=True)

WAIT = 20.0  # seconds one expected frame may take on a loaded machine (it takes milliseconds)
MUX_STAFF = "/api/v1/chat/ws/chat/user"
MUX_CUSTOMER = "/api/v1/chat/ws/chat/customer"


# --- servers -----------------------------------------------------------------------------------
@pytest.fixture(scope="module", params=["uvicorn", "daphne"])
def servers(request, django_db_setup, tmp_path_factory):
    """Processes A and B, ready (their ports accept connections) before any test connects;
    every test runs under both servers (SPEC: both must behave identically)."""
    require_service("DATABASE_URL")
    require_service("REDIS_URL")
    if connection.vendor != "postgresql":
        (pytest.fail if REQUIRE_SERVICES else pytest.skip)(f"this test needs PostgreSQL, not {connection.vendor}")
    log_dir = tmp_path_factory.mktemp("many-processes")
    env = {"FIKO_CHAT_TYPING": "true"}  # /ws/chat/ typing is an env switch (SPEC); both processes alike
    started = []
    try:
        for name in ("A", "B"):
            started.append(Server(request.param, APPLICATION, log_dir, env=env, name=f"{request.param}-{name}"))
        a, b = started
        assert a.port != b.port and a.proc.pid != b.proc.pid
        yield a, b
    finally:
        for server in started:
            server.stop()


def _log_tails(servers, chars: int = 3000) -> str:
    return "\n".join(f"--- {s.name} log (tail) ---\n{s.log()[-chars:]}" for s in servers)


# --- clients -----------------------------------------------------------------------------------
class Peer:
    """One real WebSocket client connected to one server process.

    ``expect`` returns the first received frame of a type (and matching ``where``) not yet
    returned, reading more frames until one arrives or the deadline passes; frames it skips stay
    available to later ``expect`` calls, so the order in which a test asks does not matter.
    ``frames`` keeps everything received, in order, for exactly-once and order checks.
    """

    def __init__(self, name: str, server: Server, ws, all_servers):
        self.name, self.server, self.ws, self.all_servers = name, server, ws, all_servers
        self.frames: list[dict] = []
        self._unclaimed: list[dict] = []

    def __repr__(self):
        return f"<{self.name} on {self.server.name}>"

    async def send(self, frame: dict):
        await self.ws.send(json.dumps(frame))

    async def expect(self, frame_type: str, where=lambda frame: True, what: str = "", timeout: float = WAIT) -> dict:
        def wanted(frame):
            return frame.get("type") == frame_type and where(frame)

        for index, frame in enumerate(self._unclaimed):
            if wanted(frame):
                return self._unclaimed.pop(index)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            remaining = deadline - loop.time()
            try:
                if remaining <= 0:
                    raise TimeoutError
                frame = json.loads(await asyncio.wait_for(self.ws.recv(), remaining))
            except TimeoutError:
                self._fail(f"no {frame_type} frame {what} within {timeout:.0f}s")
            except ConnectionClosed:
                self._fail(f"closed ({self.ws.close_code}) while waiting for a {frame_type} frame {what}")
            self.frames.append(frame)
            if wanted(frame):
                return frame
            self._unclaimed.append(frame)

    def _fail(self, text: str):
        seen = "\n".join(f"  {json.dumps(frame)[:300]}" for frame in self.frames[-30:]) or "  (none)"
        pytest.fail(f"{self!r}: {text}; frames received (last 30):\n{seen}\n{_log_tails(self.all_servers)}")

    def of_type(self, frame_type: str) -> list[dict]:
        return [frame for frame in self.frames if frame.get("type") == frame_type]

    async def close(self):
        await self.ws.close()


@pytest.fixture
async def connect(servers, transactional_db):
    """``await connect(server, path, token, name)`` opens a socket; all are closed at the end of
    the test, before the database is flushed."""
    opened: list[Peer] = []

    async def open_socket(server: Server, path: str, token: str, name: str) -> Peer:
        ws = await websockets.connect(server.url(f"{path}?token={token}"), open_timeout=WAIT, close_timeout=WAIT)
        peer = Peer(name, server, ws, servers)
        opened.append(peer)
        return peer

    yield open_socket
    for peer in opened:
        await peer.close()


async def rest(server: Server, method: str, path: str, token: str, body: dict | None = None) -> tuple[int, object]:
    """One REST call to one process; (status, decoded JSON body)."""
    def call():
        request = urllib.request.Request(
            server.http_url(path), method=method, data=None if body is None else json.dumps(body).encode(),
            headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(request, timeout=WAIT) as response:
                return response.status, json.loads(response.read() or b"null")
        except urllib.error.HTTPError as error:
            return error.code, error.read().decode(errors="replace")

    return await asyncio.to_thread(call)


def unique(label: str) -> str:
    return f"{label} {uuid.uuid4().hex[:12]}"


def with_content(content: str):
    return lambda frame: frame["message"]["content"] == content


def assert_once_in_order(peer: Peer, frame_type: str):
    """Every message this socket got as ``frame_type`` came once, in ``seq`` order."""
    seqs = [frame["message"]["seq"] for frame in peer.of_type(frame_type)]
    ids = [frame["message"]["id"] for frame in peer.of_type(frame_type)]
    assert len(ids) == len(set(ids)), f"{peer!r} got a message twice: ids {ids}"
    assert seqs == sorted(seqs), f"{peer!r} got messages out of order: seqs {seqs}"


# --- data --------------------------------------------------------------------------------------
@pytest.fixture
def team(workspace, staff, customer, conversation, other_workspace, other_staff):
    """Workspace acme: staff alice (owner), bob, carol, dave; customer John with conversation C;
    a web customer Wendy without one. Workspace rival: mallory and Rita's conversation."""
    bob, carol, dave = (make_user(name, workspace=workspace) for name in ("bob", "carol", "dave"))
    wendy = make_customer(workspace, source="web", first_name="Wendy")
    rita = make_customer(other_workspace, first_name="Rita")
    rival_conversation = make_conversation(other_workspace, rita)
    users = {"alice": staff, "bob": bob, "carol": carol, "dave": dave, "mallory": other_staff}
    return SimpleNamespace(
        **users, customer=customer, conversation=conversation, wendy=wendy, rita=rita,
        rival_conversation=rival_conversation,
        token={name: staff_token(user) for name, user in users.items()} | {"john": customer_token(customer)},
    )


# --- /ws/chat/<id>/ ----------------------------------------------------------------------------
async def chat_socket(connect, server, team, who: str) -> Peer:
    peer = await connect(server, f"/ws/chat/{team.conversation.pk}/", team.token[who], f"{who} /ws/chat/")
    await peer.expect("recent_messages")  # subscribed: the consumer joins its group before this
    # and its connect has run to the end (presence entered and announced): a socket handles one
    # message at a time, so the pong comes after it
    await peer.send({"type": "ping"})
    await peer.expect("pong")
    return peer


async def chat_send(sender: Peer, content: str):
    await sender.send({"type": "chat_message", "content": content, "client_message_id": uuid.uuid4().hex})


async def all_receive_chat_message(peers, content: str, *, sender_user_id: int, conversation_id: int) -> dict:
    messages = [(await peer.expect("chat_message", with_content(content), f"with {content!r}"))["message"]
                for peer in peers]
    assert {m["id"] for m in messages} == {messages[0]["id"]}
    assert messages[0]["sender_user_id"] == sender_user_id and messages[0]["conversation_id"] == conversation_id
    return messages[0]


async def test_chat_messages_reach_chat_sockets_on_the_other_process(servers, connect, team):
    a, b = servers
    c = team.conversation.pk
    alice_a = await chat_socket(connect, a, team, "alice")
    bob_b = await chat_socket(connect, b, team, "bob")
    carol_b = await chat_socket(connect, b, team, "carol")
    everyone = [alice_a, bob_b, carol_b]

    # A -> B (and A's own socket), then B -> A
    text = unique("from A")
    await chat_send(alice_a, text)
    await all_receive_chat_message(everyone, text, sender_user_id=team.alice.pk, conversation_id=c)
    text = unique("from B")
    await chat_send(bob_b, text)
    await all_receive_chat_message(everyone, text, sender_user_id=team.bob.pk, conversation_id=c)

    # stored through REST on one process: the sockets on both get it
    for server, who in ((a, "carol"), (b, "alice")):
        text = unique(f"REST via {server.name}")
        status, body = await rest(server, "POST", f"/api/conversations/{c}/messages/", team.token[who],
                                  {"content": text, "client_message_id": uuid.uuid4().hex})
        assert status == 201, body
        message = await all_receive_chat_message(everyone, text, sender_user_id=getattr(team, who).pk,
                                                 conversation_id=c)
        assert message["id"] == body["id"]

    # one of B's two sockets leaves: B still delivers to the other
    await carol_b.close()
    await alice_a.expect("user_presence", lambda f: f["user_id"] == team.carol.pk and not f["is_online"], "carol gone")
    assert_once_in_order(carol_b, "chat_message")
    text = unique("after carol left")
    await chat_send(alice_a, text)
    await all_receive_chat_message([alice_a, bob_b], text, sender_user_id=team.alice.pk, conversation_id=c)

    # B's last socket in the conversation leaves; a new one joins on B and is delivered to
    await bob_b.close()
    await alice_a.expect("user_presence", lambda f: f["user_id"] == team.bob.pk and not f["is_online"], "bob gone")
    assert_once_in_order(bob_b, "chat_message")
    dave_b = await chat_socket(connect, b, team, "dave")
    text = unique("to the rejoined process")
    await chat_send(alice_a, text)
    await all_receive_chat_message([alice_a, dave_b], text, sender_user_id=team.alice.pk, conversation_id=c)
    text = unique("back from the rejoined process")
    await chat_send(dave_b, text)
    await all_receive_chat_message([alice_a, dave_b], text, sender_user_id=team.dave.pk, conversation_id=c)

    assert len(alice_a.of_type("chat_message")) == 7  # every one of the 7 messages, once each
    assert_once_in_order(alice_a, "chat_message")
    assert_once_in_order(dave_b, "chat_message")


async def test_concurrent_senders_on_both_processes_reach_every_socket_once(servers, connect, team):
    """Two senders at once, one per process, 15 messages each: every socket on both processes
    gets all 30 exactly once, each sender's messages in the order sent, seq 1..30 with no gap."""
    a, b = servers
    per_sender = 15  # within the per-socket burst of 40 frames
    alice_a = await chat_socket(connect, a, team, "alice")
    bob_b = await chat_socket(connect, b, team, "bob")
    carol_a = await chat_socket(connect, a, team, "carol")
    dave_b = await chat_socket(connect, b, team, "dave")
    tag = uuid.uuid4().hex[:12]
    texts = {sender: [f"burst {tag} {sender.name} #{i}" for i in range(per_sender)] for sender in (alice_a, bob_b)}

    async def send_all(sender):
        for text in texts[sender]:
            await chat_send(sender, text)

    await asyncio.gather(*(send_all(sender) for sender in texts))
    for peer in (alice_a, bob_b, carol_a, dave_b):
        for sender_texts in texts.values():
            for text in sender_texts:
                await peer.expect("chat_message", with_content(text), f"with {text!r}")
        got = [frame["message"] for frame in peer.of_type("chat_message")]
        assert sorted(m["seq"] for m in got) == list(range(1, 2 * per_sender + 1)), f"{peer!r}: {got}"
        for sender_texts in texts.values():
            in_arrival_order = [m["content"] for m in got if m["content"] in sender_texts]
            assert in_arrival_order == sender_texts, f"{peer!r}: one sender's messages out of order"


async def test_presence_crosses_processes(servers, connect, team):
    a, b = servers
    bob_b = await chat_socket(connect, b, team, "bob")
    carol_a = await chat_socket(connect, a, team, "carol")

    def presence_of(user, online: bool):
        return lambda f: f["user_id"] == user.pk and f["is_online"] is online and f["username"] == user.username

    # carol arrived on A after bob on B: each sees the other online
    await bob_b.expect("user_presence", presence_of(team.carol, True), "carol online")
    await carol_a.expect("user_presence", presence_of(team.bob, True), "bob online")

    # a staff user connecting on A is online on B; leaving makes them offline on B
    alice_a = await chat_socket(connect, a, team, "alice")
    await bob_b.expect("user_presence", presence_of(team.alice, True), "alice online")
    await carol_a.expect("user_presence", presence_of(team.alice, True), "alice online")
    await alice_a.close()
    await bob_b.expect("user_presence", presence_of(team.alice, False), "alice offline")
    await carol_a.expect("user_presence", presence_of(team.alice, False), "alice offline")

    # and the other way: connecting on B, seen on A
    dave_b = await chat_socket(connect, b, team, "dave")
    await carol_a.expect("user_presence", presence_of(team.dave, True), "dave online")
    await dave_b.close()
    await carol_a.expect("user_presence", presence_of(team.dave, False), "dave offline")
    for peer in (bob_b, carol_a):  # each change once
        changes = [(f["user_id"], f["is_online"]) for f in peer.of_type("user_presence")]
        assert len(changes) == len(set(changes)), f"{peer!r}: {changes}"


async def test_chat_typing_crosses_processes(servers, connect, team):
    a, b = servers
    alice_a = await chat_socket(connect, a, team, "alice")
    bob_b = await chat_socket(connect, b, team, "bob")
    c = team.conversation.pk

    def typing_of(user, is_typing: bool):
        return lambda f: (f["user_id"] == user.pk and f["is_typing"] is is_typing and f["conversation_id"] == c
                          and f["username"] == user.username)

    for typer, watcher, user in ((alice_a, bob_b, team.alice), (bob_b, alice_a, team.bob)):
        await typer.send({"type": "typing", "is_typing": True})
        await watcher.expect("typing_indicator", typing_of(user, True), f"{user.username} typing")
        await typer.send({"type": "typing", "is_typing": False})
        await watcher.expect("typing_indicator", typing_of(user, False), f"{user.username} stopped")

    # the typer's own socket is not told about its own typing: after its typing, its own
    # chat_message (published later to the same group) arrives with no typing_indicator before it
    await alice_a.send({"type": "typing", "is_typing": True})
    await bob_b.expect("typing_indicator", typing_of(team.alice, True), "alice typing again")
    text = unique("after typing")
    await chat_send(alice_a, text)
    await all_receive_chat_message([alice_a, bob_b], text, sender_user_id=team.alice.pk, conversation_id=c)
    assert [f["user_id"] for f in alice_a.of_type("typing_indicator")] == [team.bob.pk] * 2
    assert [f["user_id"] for f in bob_b.of_type("typing_indicator")] == [team.alice.pk] * 3  # each once


# --- /ws/conversations/ and /ws/customers/ -------------------------------------------------------
async def list_socket(connect, server, team, who: str, kind: str) -> Peer:
    peer = await connect(server, f"/ws/{kind}/", team.token[who], f"{who} /ws/{kind}/")
    await peer.send({"type": f"get_{kind}"})
    await peer.expect(f"{kind}_list")  # connected and subscribed to its workspace groups
    return peer


async def test_list_sockets_get_pushes_caused_on_the_other_process(servers, connect, team):
    a, b = servers
    c, john = team.conversation.pk, team.customer.pk
    conversations_a = await list_socket(connect, a, team, "alice", "conversations")
    customers_a = await list_socket(connect, a, team, "alice", "customers")
    conversations_b = await list_socket(connect, b, team, "bob", "conversations")
    customers_b = await list_socket(connect, b, team, "bob", "customers")
    rival_conversations_b = await list_socket(connect, b, team, "mallory", "conversations")
    rival_customers_b = await list_socket(connect, b, team, "mallory", "customers")

    # a customer edited through REST on A: customer_updated on both processes, and the
    # conversation rows that embed the customer change too
    name = unique("Johnny")
    status, body = await rest(a, "PATCH", f"/api/customers/{john}/", team.token["alice"], {"first_name": name})
    assert status == 200, body
    for peer in (customers_a, customers_b):
        await peer.expect("customer_updated", lambda f: f["customer"]["id"] == john and f["customer"]["first_name"] == name,
                          f"John renamed {name!r}")
    await conversations_b.expect(
        "conversation_updated",
        lambda f: f["conversation_id"] == c and f["conversation"]["customer"]["first_name"] == name, "John renamed")

    # a conversation edited through REST on B: conversation_updated on A
    status, body = await rest(b, "PATCH", f"/api/conversations/{c}/", team.token["bob"], {"status": "pending"})
    assert status == 200, body
    for peer in (conversations_a, conversations_b):
        await peer.expect("conversation_updated",
                          lambda f: f["conversation_id"] == c and f["conversation"]["status"] == "pending", "pending")

    # a staff message on A's chat socket: the row on B's list shows it as the last message
    alice_chat_a = await chat_socket(connect, a, team, "alice")
    text = unique("staff says")
    await chat_send(alice_chat_a, text)
    await conversations_b.expect(
        "conversation_updated",
        lambda f: f["conversation_id"] == c and (f["conversation"]["last_message"] or {}).get("content") == text,
        f"last message {text!r}")

    # a customer message on B's multiplexed socket: new_customer_message and customer_updated on A
    john_b = await mux_socket(connect, b, team, "john")
    await john_b.send({"type": "join_chat", "chat_id": c})
    await john_b.expect("joined")
    text = unique("customer says")
    await john_b.send({"type": "send_message", "chat_id": c, "content": text})
    new = await conversations_a.expect("new_customer_message", with_content(text), f"with {text!r}")
    assert new["conversation_id"] == c and new["conversation"]["id"] == c
    assert new["message"]["sender_type"] == "customer" and new["message"]["sender_customer_id"] == john
    await customers_a.expect("customer_updated", lambda f: f["customer"]["id"] == john
                             and f["customer"]["unread_count"] >= 1, "John with an unread message")

    # a chat opened through REST on B: conversation_created on A
    status, body = await rest(b, "POST", "/api/v1/chat/chats", team.token["bob"],
                              {"customer_id": team.wendy.pk, "title": unique("chat with Wendy"), "initial_message": ""})
    assert status == 201, body
    created = await conversations_a.expect("conversation_created", lambda f: f["conversation"]["id"] == body["id"],
                                           f"conversation {body['id']}")
    assert created["conversation"]["customer"]["id"] == team.wendy.pk

    # the rival workspace's sockets on B heard none of this; their own workspace's events reach
    # them from A
    name = unique("Rita")
    status, _ = await rest(a, "PATCH", f"/api/customers/{team.rita.pk}/", team.token["mallory"], {"first_name": name})
    assert status == 200
    status, _ = await rest(a, "PATCH", f"/api/conversations/{team.rival_conversation.pk}/", team.token["mallory"],
                           {"priority": "urgent"})
    assert status == 200
    await rival_customers_b.expect("customer_updated", lambda f: f["customer"]["first_name"] == name, "Rita renamed")
    await rival_conversations_b.expect(
        "conversation_updated", lambda f: f["conversation"]["priority"] == "urgent", "the rival conversation urgent")
    acme_customers = {john, team.wendy.pk}
    acme_conversations = {c, created["conversation"]["id"]}
    assert not [f for f in rival_customers_b.frames if f.get("customer", {}).get("id") in acme_customers]
    assert not [f for f in rival_conversations_b.frames if f.get("conversation_id") in acme_conversations]


# --- the multiplexed socket ----------------------------------------------------------------------
async def mux_socket(connect, server, team, who: str) -> Peer:
    path = MUX_CUSTOMER if who == "john" else MUX_STAFF
    peer = await connect(server, path, team.token[who], f"{who} {path}")
    connected = await peer.expect("connected")
    expected_id = team.customer.pk if who == "john" else getattr(team, who).pk
    assert connected["participant_id"] == expected_id
    return peer


async def test_multiplexed_sockets_across_processes(servers, connect, team):
    a, b = servers
    c, john = team.conversation.pk, team.customer.pk
    alice_a = await mux_socket(connect, a, team, "alice")
    john_b = await mux_socket(connect, b, team, "john")
    bob_b = await mux_socket(connect, b, team, "bob")

    def participant(kind: str, pk: int, **fields):
        return lambda f: (f["chat_id"] == c and f["participant_type"] == kind and f["participant_id"] == pk
                          and all(f[k] == v for k, v in fields.items()))

    # joining on B is user_joined on A (and the other way round)
    await alice_a.send({"type": "join_chat", "chat_id": c})
    await alice_a.expect("joined")
    await john_b.send({"type": "join_chat", "chat_id": c})
    joined = await john_b.expect("joined")
    assert {"participant_type": "user", "participant_id": team.alice.pk} in joined["online_participants"]
    await alice_a.expect("user_joined", participant("customer", john), "John joined on B")
    await bob_b.send({"type": "join_chat", "chat_id": c})
    await bob_b.expect("joined")
    await alice_a.expect("user_joined", participant("user", team.bob.pk), "bob joined on B")
    await john_b.expect("user_joined", participant("user", team.bob.pk), "bob joined")

    # a /ws/chat/ socket on A is another dialect of the same chat: its presence reaches B
    dave_chat_a = await chat_socket(connect, a, team, "dave")
    await john_b.expect("user_joined", participant("user", team.dave.pk), "dave's /ws/chat/ socket on A")

    # send_message on A -> message on B; on B -> message on A (and chat_message on /ws/chat/)
    text = unique("staff on A")
    await alice_a.send({"type": "send_message", "chat_id": c, "content": text, "message_type": "text"})
    from_alice = [await peer.expect("message", lambda f: f["chat_id"] == c and with_content(text)(f), repr(text))
                  for peer in (alice_a, john_b, bob_b)]
    staff_message = from_alice[0]["message"]
    assert {f["message"]["id"] for f in from_alice} == {staff_message["id"]}
    assert staff_message["sender_type"] == "user" and staff_message["sender_user_id"] == team.alice.pk
    await dave_chat_a.expect("chat_message", with_content(text))

    text = unique("customer on B")
    await john_b.send({"type": "send_message", "chat_id": c, "content": text, "message_type": "text"})
    from_john = [await peer.expect("message", lambda f: f["chat_id"] == c and with_content(text)(f), repr(text))
                 for peer in (alice_a, john_b, bob_b)]
    customer_message = from_john[0]["message"]
    assert customer_message["sender_type"] == "customer" and customer_message["sender_customer_id"] == john
    await dave_chat_a.expect("chat_message", with_content(text))

    # stored through REST on B: the multiplexed sockets on both processes get it
    text = unique("REST via B")
    status, body = await rest(b, "POST", f"/api/conversations/{c}/messages/", team.token["bob"], {"content": text})
    assert status == 201, body
    for peer in (alice_a, john_b, bob_b):
        frame = await peer.expect("message", with_content(text), repr(text))
        assert frame["message"]["id"] == body["id"]

    # typing, both ways (the typer's own sockets are not told)
    await alice_a.send({"type": "typing", "chat_id": c, "is_typing": True})
    for peer in (john_b, bob_b):
        await peer.expect("typing", participant("user", team.alice.pk, is_typing=True), "alice typing")
    await john_b.send({"type": "typing", "chat_id": c, "is_typing": True})
    await alice_a.expect("typing", participant("customer", john, is_typing=True), "John typing")
    await john_b.send({"type": "typing", "chat_id": c, "is_typing": False})
    await alice_a.expect("typing", participant("customer", john, is_typing=False), "John stopped")
    await dave_chat_a.expect("typing_indicator", lambda f: f["user_id"] == team.alice.pk and f["is_typing"] is True)
    assert not [f for f in alice_a.of_type("typing") if f["participant_type"] == "user"]

    # read receipts, both ways
    await john_b.send({"type": "read_message", "chat_id": c, "message_id": staff_message["id"]})
    receipt = await alice_a.expect("read_receipt", lambda f: f["reader_type"] == "customer", "John read")
    assert (receipt["chat_id"], receipt["reader_id"], receipt["message_id"]) == (c, john, staff_message["id"])
    await alice_a.send({"type": "read_message", "chat_id": c, "message_id": customer_message["id"]})
    receipt = await john_b.expect("read_receipt", lambda f: f["reader_type"] == "user", "alice read")
    assert (receipt["chat_id"], receipt["reader_id"], receipt["message_id"]) == (c, team.alice.pk,
                                                                                 customer_message["id"])

    # leaving on B is user_left on A; B's last member of the chat leaves, then John joins again
    # on B and is delivered to
    for reader in (john, team.alice.pk):
        await dave_chat_a.expect("messages_read", lambda f: f["reader_id"] == reader, "the read receipts")
    await dave_chat_a.close()  # nothing left on its way to it (see the last test)
    await bob_b.send({"type": "leave_chat", "chat_id": c})
    await bob_b.expect("left")
    await alice_a.expect("user_left", participant("user", team.bob.pk), "bob left on B")
    await john_b.send({"type": "leave_chat", "chat_id": c})
    await john_b.expect("left")
    await alice_a.expect("user_left", participant("customer", john), "John left on B")
    await john_b.send({"type": "join_chat", "chat_id": c})
    await john_b.expect("joined")
    await alice_a.expect("user_joined", participant("customer", john), "John back on B")
    text = unique("after rejoining")
    await alice_a.send({"type": "send_message", "chat_id": c, "content": text})
    await john_b.expect("message", with_content(text), repr(text))
    text = unique("John after rejoining")
    await john_b.send({"type": "send_message", "chat_id": c, "content": text})
    for peer in (alice_a, john_b):
        await peer.expect("message", with_content(text), repr(text))

    # John's socket closes on B: user_left on A
    await john_b.close()
    await alice_a.expect("user_left", participant("customer", john), "John disconnected on B")

    assert len(alice_a.of_type("message")) == 5
    for peer in (alice_a, john_b, bob_b):
        assert_once_in_order(peer, "message")


# --- leaving while a frame is on its way ------------------------------------------------------
TRIALS = 10


@pytest.mark.parametrize("dialect", ["/ws/chat/", "multiplexed"])
async def test_a_socket_closed_while_a_frame_is_on_its_way_still_leaves(servers, connect, team, dialect):
    """A client may close at any moment, also while the server is sending to it. Its process
    must still run the socket's leaving, so the other process hears the participant go
    (``user_presence`` is_online=false / ``user_left``).

    The leaver on B sends a message and closes as soon as the watcher on A has it, without
    reading its own copy: that copy reaches the leaver's server-side socket at about the moment
    its close does. Repeated ``TRIALS`` times, each with a fresh socket that must first be seen
    online (so the previous one did leave). A send to a socket whose close the server has
    already read raises out of the application (uvicorn: ClientDisconnected, swallowed without a
    log line; Daphne: autobahn's Disconnected), so the leaving must not depend on that send."""
    a, b = servers
    c = team.conversation.pk
    if dialect == "/ws/chat/":
        watcher, leaver_id = await chat_socket(connect, a, team, "alice"), team.bob.pk
        online = ("user_presence", lambda f: f["user_id"] == leaver_id and f["is_online"] is True)
        offline = ("user_presence", lambda f: f["user_id"] == leaver_id and f["is_online"] is False)
    else:
        watcher, leaver_id = await mux_socket(connect, a, team, "alice"), team.customer.pk
        await watcher.send({"type": "join_chat", "chat_id": c})
        await watcher.expect("joined")

        def john(f):
            return f["participant_type"] == "customer" and f["participant_id"] == leaver_id

        online, offline = ("user_joined", john), ("user_left", john)

    for trial in range(TRIALS):
        text = unique(f"trial {trial}")
        if dialect == "/ws/chat/":
            leaver = await chat_socket(connect, b, team, "bob")
            await watcher.expect(*online, f"bob online (trial {trial})")
            await chat_send(leaver, text)
            await watcher.expect("chat_message", with_content(text), repr(text))
        else:
            leaver = await mux_socket(connect, b, team, "john")
            await leaver.send({"type": "join_chat", "chat_id": c})
            await leaver.expect("joined")
            await watcher.expect(*online, f"John joined (trial {trial})")
            await leaver.send({"type": "send_message", "chat_id": c, "content": text})
            await watcher.expect("message", with_content(text), repr(text))
        await leaver.close()
        await watcher.expect(*offline, f"{leaver!r} gone (trial {trial})")


# --- access revoked (issue 10) ------------------------------------------------------------------
async def closed_with(peer: Peer, timeout: float) -> tuple[int | None, list[dict]]:
    """Read until the server closes ``peer``; (close code, frames read meanwhile)."""
    frames = []
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        try:
            frames.append(json.loads(await asyncio.wait_for(peer.ws.recv(), max(0.01, deadline - loop.time()))))
        except TimeoutError:
            peer._fail(f"still open {timeout:.0f}s after its access was revoked")
        except ConnectionClosed:
            return peer.ws.close_code, frames


async def test_a_deactivated_users_sockets_close_on_both_processes(servers, connect, team):
    """SPEC: access revoked -> error ``forbidden``, then 1008, within 5 s, on every process.
    The deactivation is written here (a third process, as the admin would be) and the sockets
    live on A and B; REST on both refuses the token at once."""
    a, b = servers
    sockets = [await chat_socket(connect, a, team, "bob"), await chat_socket(connect, b, team, "bob"),
               await list_socket(connect, a, team, "bob", "conversations"),
               await mux_socket(connect, b, team, "bob")]
    bystander = await chat_socket(connect, b, team, "carol")

    bob = team.bob
    bob.is_active = False
    await asyncio.to_thread(bob.save)
    loop = asyncio.get_running_loop()
    started = loop.time()
    for peer in sockets:
        code, frames = await closed_with(peer, timeout=5.0 - (loop.time() - started) + 0.5)
        assert code == 1008, (peer, code, frames)
        assert frames[-1]["type"] == "error" and frames[-1]["code"] == "forbidden", (peer, frames)
    print(f"revocation: {len(sockets)} sockets on 2 processes closed 1008 within {loop.time() - started:.2f}s")
    for server in servers:
        status, _ = await rest(server, "GET", "/api/conversations/", team.token["bob"])
        assert status == 401
    await bystander.send({"type": "ping"})
    await bystander.expect("pong")
