"""Fault drills (issue 10, "Drills as tests"): real server processes on a private PostgreSQL and
a private Redis that the drill stops, with steady traffic — customer messages as Telegram
webhooks, agent messages over sockets, into several conversations — and agents' sockets on both
processes that reconnect and catch up by ``seq`` as SPEC tells clients to.

Each drill ends with every client holding every stored message exactly once, every message the
senders were answered for stored exactly once, and prints its figures (``-s`` shows them):
sent / stored / delivered / lost / duplicated / seconds to recover.

Bounded in time: every wait has a deadline; the traffic is a few hundred messages.
"""
import asyncio
import json
import time
import uuid

import pytest
import websockets

from tests.drills.traffic import AgentSender, ChatClient, RestSender, WebhookSender

CUSTOMERS = 3
WEBHOOKS = 60  # customer messages, 0.1 s apart
AGENT_MESSAGES = 12  # per conversation, 0.3 s apart
BIG_MESSAGES = 400  # 6.4 MB for the slow client: more than the kernel's socket buffers hold
WAIT = 60.0  # deadline of any one wait (a loaded machine; each takes seconds)


class Stream:
    """Conversations, their clients (one on each process per conversation) and the senders."""

    def __init__(self, cluster, label: str):
        self.cluster, self.label = cluster, label
        self.tag = f"{label}-{uuid.uuid4().hex[:8]}"
        self.customers = [510_000_001 + i for i in range(CUSTOMERS)]  # each drill has a database of its own
        world = cluster.world
        self.webhooks = WebhookSender(cluster.servers, world["channel_id"], world["secret"], self.customers, self.tag)
        self.clients: list[ChatClient] = []
        self.agents: list[AgentSender] = []

    async def open(self):
        import httpx

        async with httpx.AsyncClient(timeout=10) as client:  # each customer's first message opens their conversation
            for customer in self.customers:
                await self.webhooks.send_one(client, customer, self.webhooks.text(customer, "hello"))
        self.conversations = self.cluster.conversation_ids(self.customers)
        assert len(self.conversations) == CUSTOMERS, self.cluster.logs()
        agents = self.cluster.world["agents"]
        for index, conversation in enumerate(self.conversations.values()):
            for process in range(len(self.cluster.servers)):
                observer = agents[1 + process % (len(agents) - 1)]
                self.clients.append(ChatClient(f"conv{conversation}@{process}", self.cluster.servers, process,
                                               conversation, observer["token"]).start())
            self.agents.append(AgentSender(f"{index}", self.cluster.servers, index, conversation,
                                           agents[0]["token"], self.tag))
        await self.until(lambda: all(client.caught_up for client in self.clients), "every client connected")

    async def until(self, check, what: str, timeout: float = WAIT) -> float:
        started = time.monotonic()
        while not check():
            if time.monotonic() - started > timeout:
                pytest.fail(f"{self.label}: {what}: not within {timeout:.0f}s\n{self.state()}\n{self.cluster.logs()}")
            await asyncio.sleep(0.05)
        return time.monotonic() - started

    def traffic(self) -> asyncio.Future:
        return asyncio.gather(self.webhooks.run(WEBHOOKS, 0.1),
                              *(agent.run(AGENT_MESSAGES, 0.3) for agent in self.agents))

    def sent(self) -> list[str]:
        return self.webhooks.sent + [text for agent in self.agents for text in agent.sent]

    def state(self) -> str:
        return "\n".join(f"  {client!r}: holds {len(client.held)}, caught up {client.caught_up}, "
                         f"connections {client.connections}, closes {client.close_codes[-5:]}, errors {client.errors[-5:]}"
                         for client in self.clients)

    def missing(self) -> dict:
        """Per client: stored messages of its conversation it does not hold."""
        rows = self.cluster.messages(self.conversations.values())
        stored = {}
        for message_id, conversation, _, _ in rows:
            stored.setdefault(conversation, set()).add(message_id)
        return {client.name: stored.get(client.conversation_id, set()) - set(client.held) for client in self.clients}

    async def finish(self, recovered_in: float):
        """After the traffic: every client catches up; check and print the figures."""
        await self.until(lambda: all(client.caught_up for client in self.clients)
                         and not any(self.missing().values()), "every client holds every stored message")
        rows = self.cluster.messages(self.conversations.values())
        for client in self.clients:
            await client.stop()
        contents = [content for _, _, _, content in rows]
        sent = self.sent()
        given_up = self.webhooks.given_up + [text for agent in self.agents for text in agent.given_up]
        lost_stored = [text for text in sent if text not in set(contents)]
        duplicated_stored = len(contents) - len(set(contents))
        live_duplicates = sum(client.live_duplicates for client in self.clients)
        held = [len(client.held) for client in self.clients]
        gaps = [conversation for conversation in self.conversations.values()
                if [seq for _, c, seq, _ in rows if c == conversation] !=
                list(range(1, 1 + sum(1 for _, c, _, _ in rows if c == conversation)))]
        print(f"\nDRILL {self.label}: sent={len(sent)} stored={len(rows)} "
              f"delivered={min(held)}..{max(held)} per client ({len(self.clients)} clients) "
              f"lost={len(lost_stored) + len(given_up)} duplicated={duplicated_stored + live_duplicates} "
              f"recovered_in={recovered_in:.2f}s reconnects={sum(c.connections - 1 for c in self.clients)} "
              f"gap_catch_ups={sum(c.gap_fetches for c in self.clients)} "
              f"webhook_retries={self.webhooks.retries} agent_resends={sum(a.resends for a in self.agents)}")
        assert not given_up, f"senders gave up on {given_up}"
        assert not lost_stored, f"answered but not stored: {lost_stored}"
        assert duplicated_stored == 0, f"stored twice: {len(contents) - len(set(contents))}"
        assert live_duplicates == 0, "a socket was pushed the same message twice"
        assert not gaps, f"seq gaps in {gaps}"
        assert len(rows) == len(sent), (len(rows), len(sent))
        for client in self.clients:  # exactly what is stored, nothing else
            stored_ids = {row[0] for row in rows if row[1] == client.conversation_id}
            assert set(client.held) == stored_ids, client

    async def until_recovered(self, fault_end: float) -> float:
        """Seconds from the end of the fault until every client is connected and caught up (on a
        connection made after it, for those that were closed) and a sender has been answered
        again."""
        answered = len(self.sent())
        await self.until(lambda: len(self.sent()) > answered, "a sender answered again")
        answered_at = time.monotonic()
        await self.until(lambda: all(client.caught_up for client in self.clients), "clients recover")
        return max(0.0, answered_at - fault_end, max(client.caught_up_at for client in self.clients) - fault_end)


async def progress(stream: Stream, more: int):
    """Wait until the senders have been answered for ``more`` further messages."""
    target = len(stream.sent()) + more
    await stream.until(lambda: len(stream.sent()) >= target, f"{more} more messages sent")


async def test_drill_redis_restart_mid_stream(cluster_factory):
    cluster = cluster_factory(servers=2)
    stream = Stream(cluster, "redis-restart")
    await stream.open()
    traffic = asyncio.ensure_future(stream.traffic())
    await progress(stream, 15)
    cluster.redis.stop()
    retries = stream.webhooks.retries
    await progress(stream, 5)  # webhooks keep storing while Redis is down
    assert stream.webhooks.retries == retries, "a webhook was refused while only Redis was down"
    cluster.redis.start()
    fault_end = time.monotonic()
    recovered = await stream.until_recovered(fault_end)
    await asyncio.wait_for(traffic, WAIT * 2)
    await stream.finish(recovered)
    assert any(code == 1011 for client in stream.clients for code in client.close_codes), stream.state()


async def test_drill_postgresql_stop_mid_stream(cluster_factory):
    cluster = cluster_factory(servers=2)
    stream = Stream(cluster, "postgres-stop")
    await stream.open()
    traffic = asyncio.ensure_future(stream.traffic())
    await progress(stream, 15)
    retries = stream.webhooks.retries
    await asyncio.to_thread(cluster.pg.stop)
    await stream.until(lambda: stream.webhooks.retries >= retries + 5, "webhooks answered 503 while it is down")
    await asyncio.to_thread(cluster.pg.start)
    fault_end = time.monotonic()
    await progress(stream, 5)
    recovered = await stream.until_recovered(fault_end)
    await asyncio.wait_for(traffic, WAIT * 2)
    await stream.finish(recovered)


async def test_drill_kill_one_of_two_server_processes(cluster_factory):
    cluster = cluster_factory(servers=2)
    stream = Stream(cluster, "kill-one-process")
    await stream.open()
    traffic = asyncio.ensure_future(stream.traffic())
    await progress(stream, 15)
    victim = cluster.servers[1]
    victim.proc.kill()  # SIGKILL: no goodbye to its clients
    victim.proc.wait(10)
    fault_end = time.monotonic()
    recovered = await stream.until_recovered(fault_end)
    await asyncio.wait_for(traffic, WAIT * 2)
    await stream.finish(recovered)
    moved = [client for client in stream.clients if client.home == 1]
    assert all(client.connections >= 2 for client in moved), stream.state()


async def test_drill_revocation_closes_sockets_on_both_processes(cluster_factory):
    cluster = cluster_factory(servers=2)
    stream = Stream(cluster, "revocation")
    await stream.open()  # the other agents' clients, which must stay open
    agent = cluster.world["agents"][3]
    conversation = next(iter(stream.conversations.values()))
    sockets = []
    for server in cluster.servers:
        for path in (f"/ws/chat/{conversation}/", "/ws/conversations/"):
            ws = await websockets.connect(server.url(f"{path}?token={agent['token']}"), open_timeout=10)
            await ws.send(json.dumps({"type": "ping"}))
            await asyncio.wait_for(_until_type(ws, "pong"), WAIT)
            sockets.append(ws)
    watchers = [asyncio.ensure_future(_until_closed(ws)) for ws in sockets]  # closes timed as they come
    committed = json.loads(await asyncio.to_thread(
        cluster.python, ["-m", "tests.drills.make_world", "deactivate", str(agent["id"])]))["committed_at"]
    closed = []
    for ws, watcher in zip(sockets, watchers):
        frames, closed_at = await asyncio.wait_for(watcher, WAIT)
        closed.append(closed_at - committed)
        assert ws.close_code == 1008, (ws.close_code, frames)
        assert frames and frames[-1]["code"] == "forbidden", frames
    print(f"\nDRILL revocation: {len(sockets)} sockets on 2 processes closed forbidden/1008, "
          f"the last {max(closed):.2f}s after the deactivation committed")
    assert max(closed) < 5.0
    for client in stream.clients:
        assert client.caught_up and client.connections == 1, stream.state()
    await stream.finish(0.0)


async def _until_type(ws, kind: str) -> dict:
    while True:
        frame = json.loads(await ws.recv())
        if frame.get("type") == kind:
            return frame


async def _until_closed(ws) -> tuple[list[dict], float]:
    """The frames until the server closed ``ws``, and the (wall-clock) time it did."""
    frames = []
    try:
        while True:
            frames.append(json.loads(await ws.recv()))
    except websockets.ConnectionClosed:
        return frames, time.time()


def _rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


async def test_drill_slow_client(cluster_factory):
    """A client that stops reading while the conversation is busy: the server's memory stays
    bounded while it lags, it is closed (slow_consumer, 1013), and on reconnect it catches up."""
    from tests.fiko.test_slow_consumer import RawClient

    # uvicorn's keepalive closes a client that answers no ping 1011 after ~40 s on its own; this
    # drill is about the per-socket bound, so the keepalive is kept out of its way
    cluster = cluster_factory(servers=1, env={"SOCKET_OUTBOX_MAX_FRAMES": "50",
                                               "SOCKET_OUTBOX_MAX_BYTES": str(1024 * 1024),
                                               "UVICORN_WS_PING_INTERVAL": "600"})
    stream = Stream(cluster, "slow-client")
    await stream.open()
    server = cluster.servers[0]
    conversation = next(iter(stream.conversations.values()))
    slow_agent = cluster.world["agents"][3]
    slow = await RawClient().connect(server.port, f"/ws/chat/{conversation}/?token={slow_agent['token']}")
    rss_start = rss_max = _rss_mb(server.proc.pid)
    big = RestSender(cluster.servers, conversation, cluster.world["agents"][0]["token"])
    big_texts = [f"{stream.tag} big #{n} " + "\U0001F600" * 4000 for n in range(BIG_MESSAGES)]  # 16 KB each
    traffic = asyncio.ensure_future(stream.traffic())
    flood = asyncio.ensure_future(big.run(big_texts))
    started = time.monotonic()
    while not flood.done():  # read nothing while the flood goes on, sampling the server's memory
        rss_max = max(rss_max, _rss_mb(server.proc.pid))
        await asyncio.sleep(0.1)
    await flood
    code = None
    frames = []
    while True:  # now read what reached the client: the frames, the error, the close
        frame = await asyncio.wait_for(slow.json_frame(), WAIT)
        if isinstance(frame, int):
            code = frame
            break
        frames.append(frame)
    lagged = time.monotonic() - started
    await asyncio.wait_for(traffic, WAIT * 2)
    assert code == 1013, (code, frames[-3:])
    told = bool(frames) and frames[-1].get("code") == "slow_consumer"  # best effort (SPEC): it may not fit
    stream.agents.append(big)
    late = ChatClient("slow-reconnected", cluster.servers, 0, conversation, slow_agent["token"])
    for frame in frames:  # what the slow client got before it was closed: it catches up from there
        late._merge(frame["messages"] if frame["type"] == "recent_messages" else
                    [frame["message"]] if frame["type"] == "chat_message" else [])
    late.start()
    stream.clients.append(late)
    rss_end = _rss_mb(server.proc.pid)
    await stream.finish(0.0)
    print(f"DRILL slow-client: closed 1013 after {len(frames)} frames (slow_consumer frame: {told}); server RSS {rss_start:.0f} MB at start, "
          f"{rss_max:.0f} MB max while it lagged ({lagged:.1f}s), {rss_end:.0f} MB after; "
          f"reconnected client holds {len(late.held)} messages")
    assert rss_max - rss_start < 100, "the server's memory grew with the slow client's backlog"


async def test_drill_kill_9_mid_send(cluster_factory):
    """The server is SIGKILLed while the platform holds its send: after a restart nothing is
    half-stored, and each message reaches the platform exactly once (the rescued one within
    seconds of the kill, not after a two-minute lease)."""
    from integrations.platform_sim.server import PlatformSim

    sim = PlatformSim().start()
    try:
        cluster = cluster_factory(servers=1, env={
            "FIKO_DELIVERY_IN_PROCESS": "true", "TELEGRAM_API_BASE": sim.telegram_api_base,
            "PLATFORM_HTTP_TIMEOUT_SECONDS": "30", "OUTBOX_RESCUE_SECONDS": "2"})
        stream = Stream(cluster, "kill-9-mid-send")
        await stream.open()
        sim.fail_next("hang", platform="telegram", hold_seconds=120)  # the first send never returns
        traffic = asyncio.ensure_future(asyncio.gather(*(agent.run(AGENT_MESSAGES, 0.3) for agent in stream.agents)))
        await stream.until(lambda: sim.held == 1, "the server is mid-send")
        cluster.servers[0].proc.kill()
        cluster.servers[0].proc.wait(10)
        killed_at = time.monotonic()
        held = cluster.query("SELECT id FROM conversations_message WHERE delivery_status = 'pending' "
                             "AND send_attempts > 0")
        assert len(held) == 1, held  # the row the dead process was sending: still pending, stored once
        cluster.add_server()  # the restart (clients and senders skip the dead one)
        worker = await asyncio.to_thread(_start_worker, cluster)
        try:
            await stream.until(lambda: cluster.query("SELECT delivery_status FROM conversations_message "
                                                     "WHERE id = %s", held[0])[0][0] == "sent",
                               "the interrupted send is rescued")
            rescued_after = time.monotonic() - killed_at
            await asyncio.wait_for(traffic, WAIT * 2)
            agent_texts = [text for agent in stream.agents for text in agent.sent]

            def all_sent():
                rows = cluster.query("SELECT delivery_status FROM conversations_message WHERE content = ANY(%s)",
                                     (agent_texts,))
                return len(rows) == len(agent_texts) and all(status == "sent" for (status,) in rows)

            rescued_in = await stream.until(all_sent, "every agent message sent")
        finally:
            worker.terminate()
            worker.wait(10)
        platform_texts = [entry.get("text") for entry in sim.sent_for("telegram")]
        doubled = [text for text in agent_texts if platform_texts.count(text) > 1]
        missing = [text for text in agent_texts if platform_texts.count(text) == 0]
        recovered = time.monotonic() - killed_at
        await stream.finish(recovered)  # no seq gap, nothing stored twice, every client holds all
        print(f"DRILL kill-9-mid-send: agent messages={len(agent_texts)}, "
              f"platform sends={len(platform_texts)}, sent twice={len(doubled)}, never sent={len(missing)}; "
              f"the interrupted send went out {rescued_after:.2f}s after the kill (restart included); "
              f"all delivered {rescued_in:.2f}s after the traffic ended")
        assert not doubled and not missing, (doubled, missing)
    finally:
        sim.stop()


def _start_worker(cluster):
    import subprocess
    import sys

    from django.conf import settings

    from tests.drills.conftest import manage_env

    env = manage_env(cluster.env["DATABASE_URL"], **cluster.env)
    log = open(cluster.log_dir / "worker.log", "wb")
    return subprocess.Popen([sys.executable, "manage.py", "run_delivery_worker", "--interval", "0.2"],
                            cwd=settings.BASE_DIR, env=env, stdout=log, stderr=subprocess.STDOUT)
