"""What the /metrics hooks cost per frame (fiko/metrics.py): ping/pong round trips through the
real ASGI application in process (auth, routing, BaseConsumer, one inbound and one outbound
frame each), with the hooks on and with them replaced by no-ops, interleaved, best of several
rounds. Also the bare cost of each hook call.

    DATABASE_URL=... .venv/bin/python bench/metrics_overhead.py   (SQLite without it)
"""
import asyncio
import os
import statistics
import sys
import time
import timeit
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "fiko.test_settings")
os.environ.pop("REDIS_URL", None)  # in-memory layer: only this process's cost is measured

import django  # noqa: E402

django.setup()

from django.core.management import call_command  # noqa: E402

from fiko import metrics  # noqa: E402
from fiko.consumers import encode_frame  # noqa: E402

ROUND_TRIPS, ROUNDS = 1000, 10
HOOKS = ("frame_in", "frame_out", "error_frame")


async def ping_pong(communicator, n: int) -> float:
    started = time.perf_counter()
    for _ in range(n):
        await communicator.send_to(text_data='{"type":"ping"}')
        await communicator.receive_from(timeout=5)
    return (time.perf_counter() - started) / n


async def main():
    from tests.factories import make_user, make_workspace
    from tests.sockets import connect, staff_token
    from asgiref.sync import sync_to_async

    user = await sync_to_async(lambda: make_user(f"bench-{os.getpid()}", workspace=make_workspace(f"bench{os.getpid()}")))()
    communicator, connected, _ = await connect("/ws/conversations/", staff_token(user))
    assert connected
    real = {name: getattr(metrics, name) for name in HOOKS}
    on, off = [], []
    await ping_pong(communicator, 200)  # warm up
    for round_number in range(ROUNDS):
        for hooks_on in ((True, False) if round_number % 2 == 0 else (False, True)):  # alternate the order
            for name, hook in real.items():
                setattr(metrics, name, hook if hooks_on else (lambda *a, **k: None))
            (on if hooks_on else off).append(await ping_pong(communicator, ROUND_TRIPS))
    for name, hook in real.items():
        setattr(metrics, name, hook)
    await communicator.disconnect()
    best_on, best_off = min(on) * 1e6, min(off) * 1e6
    print(f"ping/pong round trip in process: hooks on {best_on:.1f} us (median {statistics.median(on) * 1e6:.1f}), "
          f"off {best_off:.1f} us (median {statistics.median(off) * 1e6:.1f}); "
          f"difference {best_on - best_off:+.1f} us ({(best_on - best_off) / best_off * 100:+.1f}%)")
    frame = encode_frame({"type": "chat_message", "message": {"id": 1, "content": "hello", "seq": 3}})
    for stmt in ("metrics.frame_out(frame)", "metrics.frame_in('ping')"):
        cost = min(timeit.repeat(stmt, number=100000, repeat=5, globals={"metrics": metrics, "frame": frame})) / 100000
        print(f"{stmt}: {cost * 1e9:.0f} ns")


if __name__ == "__main__":
    call_command("migrate", verbosity=0, interactive=False)
    asyncio.run(main())
