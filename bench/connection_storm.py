"""Connection storm: N WebSocket clients connect at once to /ws/conversations/ (each handshake
joins a channels-redis group), send a ping and wait for the pong.

Two Daphne servers run side by side in the same run, on the same Redis and database:
  fiko  — our channel-layer settings (large pool, 30 s socket timeout, long group expiry)
  peer  — redis-py's stock pool limits (REDIS_MAX_CONNECTIONS=100, REDIS_SOCKET_TIMEOUT=5),
          as in the Channels tutorial deployments this was first measured on.
Prints, per server: sockets that got a pong, failed handshakes, abnormal closes, time to
all-pong, and the ratio fiko/peer. Needs REDIS_URL (default redis://127.0.0.1:6379/9).

    .venv/bin/python bench/connection_storm.py --clients 400
"""
import argparse
import asyncio
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def prepare_database(env) -> str:
    subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], cwd=ROOT, env=env, check=True)
    code = (
        "import django;django.setup();"
        "from django.contrib.auth import get_user_model;from workspaces.models import Workspace, Membership;"
        "from fiko.tokens import staff_tokens_for;"
        "ws,_=Workspace.objects.get_or_create(slug='bench',defaults={'name':'Bench'});"
        "u,_=get_user_model().objects.get_or_create(username='bench');"
        "Membership.objects.get_or_create(workspace=ws,user=u,defaults={'role':'owner'});"
        "print(staff_tokens_for(u)['access'])"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, check=True, capture_output=True, text=True)
    return out.stdout.strip().splitlines()[-1]


def start_server(env, port):
    return subprocess.Popen(
        [str(ROOT / ".venv/bin/daphne"), "-b", "127.0.0.1", "-p", str(port), "fiko.asgi:application"],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )


async def wait_port(port, timeout=20):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.close()
            return
        except OSError:
            await asyncio.sleep(0.2)
    raise RuntimeError(f"server on {port} did not start")


async def one_client(port, token, results, hold: asyncio.Event):
    import websockets

    url = f"ws://127.0.0.1:{port}/ws/conversations/?token={token}"
    try:
        async with websockets.connect(url, open_timeout=30, close_timeout=5, max_queue=None) as ws:
            await ws.send('{"type":"ping"}')
            reply = await asyncio.wait_for(ws.recv(), 30)
            results["pong" if '"pong"' in reply else "other"] += 1
            await hold.wait()  # keep every socket open until all have answered
    except websockets.exceptions.InvalidStatus:
        results["handshake_failed"] += 1
    except websockets.exceptions.ConnectionClosed as exc:
        results[f"closed_{exc.rcvd.code if exc.rcvd else 1006}"] += 1
    except Exception as exc:  # noqa: BLE001 - a benchmark counts, it does not crash
        results["error"] += 1
        results[f"error:{type(exc).__name__}"] += 1


async def storm(port, token, clients):
    from collections import Counter

    results, hold = Counter(), asyncio.Event()
    started = time.monotonic()
    tasks = [asyncio.create_task(one_client(port, token, results, hold)) for _ in range(clients)]
    while sum(results.values()) < clients and time.monotonic() - started < 60:
        await asyncio.sleep(0.05)
    elapsed = time.monotonic() - started
    hold.set()
    await asyncio.gather(*tasks)
    return results, elapsed


async def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--clients", type=int, default=400)
    args = parser.parse_args()
    redis_url = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/9")
    db = Path(tempfile.mkdtemp()) / "bench.sqlite3"
    base = {**os.environ, "DJANGO_SETTINGS_MODULE": "fiko.settings", "DEBUG": "false",
            "SECRET_KEY": "bench-only-secret-key-bench-only-secret-key",
            "ALLOWED_HOSTS": "127.0.0.1,localhost", "REDIS_URL": redis_url,
            "DATABASE_URL": os.environ.get("DATABASE_URL", f"sqlite:///{db}"), "LOG_LEVEL": "ERROR"}
    token = prepare_database(base)
    configs = {
        "fiko": base,
        "peer": {**base, "REDIS_MAX_CONNECTIONS": "100", "REDIS_SOCKET_TIMEOUT": "5"},
    }
    figures = {}
    for name, env in configs.items():
        port = free_port()
        server = start_server(env, port)
        try:
            await wait_port(port)
            results, elapsed = await storm(port, token, args.clients)
            figures[name] = (results, elapsed)
        finally:
            server.terminate()
            server.wait(10)
    print(f"{args.clients} clients at once, /ws/conversations/ under Daphne, channels-redis on {redis_url}")
    print(f"{'server':6} {'pong':>6} {'handshake_failed':>17} {'abnormal_close':>15} {'errors':>7} {'seconds':>8}")
    for name, (r, elapsed) in figures.items():
        abnormal = sum(v for k, v in r.items() if k.startswith("closed_"))
        print(f"{name:6} {r['pong']:6d} {r['handshake_failed']:17d} {abnormal:15d} {r['error']:7d} {elapsed:8.2f}")
        kinds = {k: v for k, v in r.items() if k.startswith(("error:", "closed_"))}
        if kinds:
            print(f"       {kinds}")
    fiko_ok, peer_ok = figures["fiko"][0]["pong"], figures["peer"][0]["pong"]
    print(f"ratio fiko/peer answered sockets: {fiko_ok / max(peer_ok, 1):.2f}")
    print(f"ratio fiko/peer time to all-answered: {figures['fiko'][1] / max(figures['peer'][1], 1e-9):.2f}")


if __name__ == "__main__":
    asyncio.run(main())
