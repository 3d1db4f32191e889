"""Soak (issue 10, item 5; not CI): 1,000 sockets on one Fiko server process, steady traffic for a
few minutes, then all of them closed at once. Prints the server's RSS, its open file
descriptors and Redis's connected clients at the start and at the end (growth %), what was
delivered, and the tracebacks in the server's log (a mass disconnect must produce none).

    BENCH_DATABASE_URL=postgres://postgres@127.0.0.1:5432/fiko_bench BENCH_REDIS_URL=redis://127.0.0.1:6379/9 \\
        .venv/bin/python bench/soak.py                                  # 1,000 sockets, 180 s
    SOAK_SOCKETS=300 SOAK_SECONDS=30 .venv/bin/python bench/soak.py     # a quick look

Uses the benchmark's set-up (bench/prepare.py, the same BENCH_* variables: the Redis database is
flushed first) and uvicorn as in production. SOAK_RATE is messages per second (default 20),
sent as ``chat_message`` frames by the conversations' own sockets in turn; every socket of a
conversation must get each one.
"""
import asyncio
import json
import os
import secrets
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import redis
import websockets

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))

import run as bench  # noqa: E402  (bench/run.py: the benchmark's processes and set-up)
from load import raise_open_files_limit  # noqa: E402

SOCKETS = int(os.environ.get("SOAK_SOCKETS", 1000))
PER_CONVERSATION = 10
SECONDS = float(os.environ.get("SOAK_SECONDS", 180))
RATE = float(os.environ.get("SOAK_RATE", 20))
CONNECT_CONCURRENCY = 100


def redis_clients_of_our_database() -> int:
    """Connections to our Redis database number (CLIENT LIST ``db=``): the server's command pool,
    its pub/sub connection, the channel layer. Other users of a shared Redis are not counted."""
    client = redis.Redis.from_url(bench.REDIS_URL)
    try:
        number = client.connection_pool.connection_kwargs.get("db", 0)
        return sum(1 for entry in client.client_list() if int(entry.get("db", -1)) == number) - 1  # not ours
    finally:
        client.close()


def server_figures(pid: int) -> dict:
    with open(f"/proc/{pid}/status") as status:
        rss = next(int(line.split()[1]) for line in status if line.startswith("VmRSS:")) / 1024
    return {"rss_mb": round(rss, 1), "fds": len(os.listdir(f"/proc/{pid}/fd")),
            "redis_clients": redis_clients_of_our_database()}


def stored_count(prefix: str) -> int:
    import psycopg

    with psycopg.connect(bench.DATABASE_URL.replace("postgres://", "postgresql://", 1)) as conn:
        return conn.execute("SELECT count(*) FROM conversations_message WHERE content LIKE %s",
                            (prefix + "%",)).fetchone()[0]


def growth(start: dict, end: dict) -> str:
    return ", ".join(f"{key} {start[key]} -> {end[key]} ({(end[key] - start[key]) / max(start[key], 1) * 100:+.1f}%)"
                     for key in start)


class Socket:
    def __init__(self, url: str):
        self.url = url
        self.received: set[str] = set()
        self.errors: dict[str, int] = {}
        self.closed_code = None
        self.ws = None

    async def open(self):
        self.ws = await websockets.connect(self.url, open_timeout=60, close_timeout=10, max_size=2 ** 22)
        self.reader = asyncio.get_running_loop().create_task(self.read())

    async def read(self):
        try:
            async for raw in self.ws:
                frame = json.loads(raw)
                if frame.get("type") == "chat_message":
                    self.received.add(frame["message"]["content"])
                elif frame.get("type") == "error":
                    key = f"{frame.get('code')}: {frame.get('message')}"
                    self.errors[key] = self.errors.get(key, 0) + 1
        except websockets.ConnectionClosed:
            pass
        self.closed_code = self.ws.close_code


async def soak(port: int, pid: int, plan: dict) -> dict:
    conversations = plan["conversations"][: max(1, SOCKETS // PER_CONVERSATION)]
    tokens = plan["tokens"]
    sockets = [Socket(f"ws://127.0.0.1:{port}/ws/chat/{conversation}/?token={tokens[n % len(tokens)]}")
               for conversation in conversations for n in range(PER_CONVERSATION)]
    gate = asyncio.Semaphore(CONNECT_CONCURRENCY)

    async def open_one(sock):
        async with gate:
            await sock.open()

    started = time.monotonic()
    await asyncio.gather(*(open_one(sock) for sock in sockets))
    print(f"soak: {len(sockets)} sockets open in {time.monotonic() - started:.1f}s", flush=True)
    await asyncio.sleep(2)  # let the handshakes' presence announcements settle before measuring
    start = server_figures(pid)
    print(f"soak: start {start}", flush=True)

    run_tag = secrets.token_hex(4)
    sent: dict[int, list[str]] = {conversation: [] for conversation in conversations}
    sending_until = time.monotonic() + SECONDS
    n = 0
    while time.monotonic() < sending_until:
        index = n % len(conversations)
        sender = sockets[index * PER_CONVERSATION + (n // len(conversations)) % PER_CONVERSATION]
        text = f"soak {run_tag} {n}"
        if sender.closed_code is None:
            await sender.ws.send(json.dumps({"type": "chat_message", "content": text,
                                             "client_message_id": secrets.token_hex(8)}))
            sent[conversations[index]].append(text)
        n += 1
        await asyncio.sleep(1 / RATE)
    # Drain: the server may be behind (a loaded machine); wait while what it stores still grows,
    # then 5 s for the deliveries. What has not arrived then counts as not received.
    messages = sum(len(texts) for texts in sent.values())
    drained, last, still = time.monotonic(), -1, 0
    while time.monotonic() - drained < 120:
        stored = await asyncio.to_thread(stored_count, f"soak {run_tag} ")
        if stored >= messages:
            break
        still = still + 1 if stored == last else 0
        if still >= 10:  # nothing new for 10 s: the rest is not coming
            break
        last = stored
        await asyncio.sleep(1)
    drain_seconds = time.monotonic() - drained
    await asyncio.sleep(5)
    end = server_figures(pid)
    expected = sum(len(texts) for texts in sent.values()) * PER_CONVERSATION
    delivered = sum(len(sock.received & set(sent[conversations[i // PER_CONVERSATION]]))
                    for i, sock in enumerate(sockets))
    closed_early = [sock.closed_code for sock in sockets if sock.closed_code is not None]
    errors: dict[str, int] = {}
    for sock in sockets:
        for code, count in sock.errors.items():
            errors[code] = errors.get(code, 0) + count
    stored = await asyncio.to_thread(stored_count, f"soak {run_tag} ")

    started = time.monotonic()
    await asyncio.gather(*(sock.ws.close() for sock in sockets), return_exceptions=True)
    closing = time.monotonic() - started
    await asyncio.sleep(5)  # the server's disconnect handlers (presence cleanup) run
    after = server_figures(pid)
    return {"sockets": len(sockets), "seconds": SECONDS, "messages": sum(len(t) for t in sent.values()),
            "expected": expected, "delivered": delivered, "closed_early": closed_early,
            "stored": stored, "errors": errors, "drain_seconds": round(drain_seconds, 1),
            "start": start, "end": end, "after_mass_close": after, "mass_close_seconds": round(closing, 2)}


def main() -> None:
    raise_open_files_limit()
    workdir = Path(tempfile.mkdtemp(prefix="fiko-soak-"))
    secret_key = secrets.token_urlsafe(50)
    env = bench.fiko_env(secret_key)
    plan_path = bench.prepare_fiko(env, workdir, conversations=max(1, SOCKETS // PER_CONVERSATION), telegram_customers=0)
    plan = json.loads(plan_path.read_text())
    bench.flush_redis()
    port = bench.free_port()
    command, cwd, server_env = bench.server_command("fiko", port, secret_key)
    log = workdir / "server.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(command, cwd=cwd, env=server_env, stdout=out, stderr=subprocess.STDOUT)
    try:
        bench.wait_port(port, proc, log)
        result = asyncio.run(soak(port, proc.pid, plan))
    finally:
        bench.stop(proc)
    errors = bench.log_exceptions(log)
    print(f"soak: {result['sockets']} sockets, {result['messages']} messages sent in {result['seconds']:.0f}s, "
          f"{result['stored']} stored ({result['drain_seconds']}s after the last send); error frames {result['errors']}; "
          f"delivered {result['delivered']}/{result['expected']} ({result['expected'] - result['delivered']} not received); "
          f"sockets closed by the server during the run: {len(result['closed_early'])}")
    print(f"soak: start -> end: {growth(result['start'], result['end'])}")
    print(f"soak: after closing all {result['sockets']} at once ({result['mass_close_seconds']}s): "
          f"{growth(result['start'], result['after_mass_close'])}")
    print(f"soak: tracebacks in the server log: {len(errors)}" + (f" (last: {errors[-1]})" if errors else ""))
    print(f"soak: server log {log}")


if __name__ == "__main__":
    main()
