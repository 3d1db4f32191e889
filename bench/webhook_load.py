"""W4 load client: Telegram webhook ingest while agents watch the conversation list.

Opens ``--watchers`` staff sockets on ``/ws/conversations/`` (each answered a ``ping`` first),
then POSTs Telegram ``Update``s (text messages from ``--customers`` Telegram users, who have an
open conversation each, see ``bench/prepare.py --telegram-customers``) to
``/integrations/telegram/<channel_id>/webhook/`` at ``--rate`` per second for ``--duration``
seconds, open loop (each POST its own task, at most ``--max-in-flight`` at once; an update that
would exceed it is counted and not sent). Prints one JSON object:

- ``ack_ms``: p50/p99/max of the webhook's answer time (POST sent → 200 read);
- ``acked``, ``non_2xx`` by status, ``timeouts``; a 200 whose answer is not ``"result":
  "stored"`` (a duplicate, an ignored update) is counted in ``errors`` as ``webhook_<result>``,
  not as stored, so no delivery is expected for it;
- ``to_sockets_ms``: p50/p99/max from POST sent to ``new_customer_message`` on each watching
  socket; ``delivered`` / ``expected`` (= stored updates × watchers) and ``loss`` after
  ``--drain`` seconds;
- ``server``: CPU (% of one core) during the run and RSS, as in ``bench/load.py``.

    .venv/bin/python bench/webhook_load.py --port 8000 --plan plan.json --rate 50 --duration 10
"""
import argparse
import asyncio
import contextlib
import json
import random
import sys
import time
from collections import Counter
from pathlib import Path

import httpx
import websockets
from websockets.asyncio.client import connect

sys.path.insert(0, str(Path(__file__).resolve().parent))
from load import Meter, cpu_percent, loads, percentile, raise_open_files_limit  # noqa: E402

CONNECTIONS_PER_CLIENT = 20  # see Run.run

monotonic = time.monotonic


class Run:
    def __init__(self, args):
        self.args = args
        plan = json.loads(Path(args.plan).read_text())
        self.tokens = plan["tokens"]
        self.tg = plan["telegram"]
        self.prefix = f"bench{random.randrange(10**6)}"
        self.base = f"http://{args.host}:{args.port}"
        self.errors = Counter()
        self.ack_ms: list[float] = []
        self.statuses = Counter()
        self.stored = 0
        self.sent_at: dict[int, float] = {}
        self.seen: list[set] = []
        self.to_sockets_ms: list[float] = []
        self.delivered = 0
        self.in_flight = 0

    async def watcher(self, index: int, ready: asyncio.Event, opened: list) -> None:
        token = self.tokens[index % len(self.tokens)]
        url = f"ws://{self.args.host}:{self.args.port}/ws/conversations/?token={token}"
        seen: set = set()
        self.seen.append(seen)
        try:
            async with connect(url, origin=self.base, compression=None, ping_interval=None, open_timeout=30,
                               max_queue=1024, max_size=2**22) as ws:
                await ws.send('{"type": "ping"}')
                async for raw in ws:
                    if '"pong"' in raw and not ready.is_set():
                        opened.append(index)
                        if len(opened) == self.args.watchers:
                            ready.set()
                        continue
                    now = monotonic()
                    frame = loads(raw)
                    if frame.get("type") != "new_customer_message":
                        continue
                    content = (frame.get("message") or {}).get("content") or ""
                    if not content.startswith(self.prefix):
                        continue
                    update_id = int(content.split(" ", 2)[1])
                    if update_id in seen:
                        self.errors["duplicate_on_socket"] += 1
                        continue
                    seen.add(update_id)
                    self.delivered += 1
                    self.to_sockets_ms.append((now - self.sent_at[update_id]) * 1000)
        except asyncio.CancelledError:
            raise
        except websockets.exceptions.ConnectionClosed as exc:
            self.errors[f"watcher_closed_{exc.rcvd.code if exc.rcvd else 1006}"] += 1
        except Exception as exc:  # noqa: BLE001 - counted, not fatal
            self.errors[f"watcher_{type(exc).__name__}"] += 1

    def update(self, n: int) -> dict:
        update_id = self.update_base + n
        user = self.tg["id_base"] + 1 + n % self.tg["customers"]
        who = {"id": user, "is_bot": False, "first_name": "Tg", "last_name": f"Customer {user - self.tg['id_base']}"}
        return {"update_id": update_id, "message": {
            # Telegram's message ids are per chat; the same (chat, message_id) twice is one message
            # delivered twice, which Fiko stores once. The run's random base keeps the workloads of
            # one `make bench` (W4@50, then W4@200 on the same customers) from repeating each other.
            "message_id": update_id, "from": who, "chat": {**who, "type": "private"},
            "date": int(time.time()), "text": f"{self.prefix} {update_id} x"}}

    async def post(self, client: httpx.AsyncClient, n: int) -> None:
        body = json.dumps(self.update(n))
        update_id = self.update_base + n
        started = monotonic()
        self.sent_at[update_id] = started
        try:
            response = await client.post(self.path, content=body, headers=self.headers)
        except httpx.TimeoutException:
            self.errors["post_timeout"] += 1
            return
        except httpx.HTTPError as exc:
            self.errors[f"post_{type(exc).__name__}"] += 1
            return
        finally:
            self.in_flight -= 1
        self.ack_ms.append((monotonic() - started) * 1000)
        self.statuses[response.status_code] += 1
        if response.status_code == 200:
            answer = response.json()  # {"ok": true, "result": "stored" | "duplicate" | "ignored", ...}
            if answer.get("result") == "stored":
                self.stored += 1
            else:  # not stored: no event on the sockets is due for it
                self.errors[f"webhook_{answer.get('result') or 'ignored'}"] += 1

    async def run(self) -> dict:
        args = self.args
        self.update_base = random.randrange(10**9, 2 * 10**9)
        self.path = f"/integrations/telegram/{self.tg['channel_id']}/webhook/"
        self.headers = {"Content-Type": "application/json", "X-Telegram-Bot-Api-Secret-Token": self.tg["secret"]}
        server = Meter(args.server_pid)
        server.start()
        before = server.snapshot()

        ready, opened = asyncio.Event(), []
        watchers = [asyncio.create_task(self.watcher(i, ready, opened)) for i in range(args.watchers)]
        try:
            await asyncio.wait_for(ready.wait(), 60)
        except asyncio.TimeoutError:
            self.errors["watchers_not_ready"] += args.watchers - len(opened)

        # Several small connection pools, not one of max_in_flight connections: httpcore's pool
        # scans every queued request against every connection on each assignment, and with
        # hundreds in flight that scan took the whole client's CPU (the client, not the server,
        # then set the ack times).
        shards = max(1, args.max_in_flight // CONNECTIONS_PER_CLIENT)
        per_client = -(-args.max_in_flight // shards)
        limits = httpx.Limits(max_connections=per_client, max_keepalive_connections=per_client)
        async with contextlib.AsyncExitStack() as stack:
            clients = [await stack.enter_async_context(
                httpx.AsyncClient(base_url=self.base, limits=limits, timeout=args.timeout)) for _ in range(shards)]
            await asyncio.sleep(0.5)
            start = server.snapshot()
            total = round(args.rate * args.duration)
            t0 = monotonic() + 0.2
            tasks = []
            for n in range(total):
                delay = t0 + n / args.rate - monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
                if self.in_flight >= args.max_in_flight:
                    self.errors["not_sent_in_flight_cap"] += 1
                    continue
                self.in_flight += 1
                tasks.append(asyncio.create_task(self.post(clients[n % shards], n)))
            await asyncio.gather(*tasks)
            last_ack = monotonic()
            send_window = last_ack - t0
            expected = self.stored * len(opened)
            while self.delivered < expected and monotonic() - last_ack < args.drain:
                await asyncio.sleep(0.05)
            end = server.snapshot()
        for task in watchers:
            task.cancel()
        await asyncio.gather(*watchers, return_exceptions=True)
        server.stop()

        ack, lat = sorted(self.ack_ms), sorted(self.to_sockets_ms)
        expected = self.stored * len(opened)
        return {
            "target": "fiko", "rate": args.rate, "duration_s": args.duration, "watchers": len(opened),
            "customers": self.tg["customers"], "offered": total, "posted": len(tasks),
            "acked_per_s": round(self.statuses.get(200, 0) / send_window, 1) if send_window > 0 else None,
            "stored": self.stored, "statuses": {str(k): v for k, v in self.statuses.items()},
            "ack_ms": {"p50": _r(percentile(ack, 50)), "p95": _r(percentile(ack, 95)),
                       "p99": _r(percentile(ack, 99)), "max": _r(ack[-1] if ack else None)},
            "expected": expected, "delivered": self.delivered,
            "loss": round(1 - self.delivered / expected, 4) if expected else None,
            "to_sockets_ms": {"p50": _r(percentile(lat, 50)), "p95": _r(percentile(lat, 95)),
                              "p99": _r(percentile(lat, 99)), "max": _r(lat[-1] if lat else None)},
            "server": {"cpu_percent": cpu_percent(start, end), "rss_before_kb": before[2],
                       "rss_end_kb": end[2], "rss_peak_kb": server.peak_rss} if args.server_pid else None,
            "errors": dict(self.errors),
        }


def _r(value):
    return None if value is None else round(value, 2)


def main() -> None:
    parser = argparse.ArgumentParser(description="Telegram webhook ingest load (see the module docstring).")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--plan", required=True, help="JSON from bench/prepare.py --telegram-customers N")
    parser.add_argument("--rate", type=float, default=50, help="updates per second")
    parser.add_argument("--duration", type=float, default=10)
    parser.add_argument("--drain", type=float, default=10)
    parser.add_argument("--watchers", type=int, default=10, help="staff sockets on /ws/conversations/")
    parser.add_argument("--max-in-flight", type=int, default=500)
    parser.add_argument("--timeout", type=float, default=30, help="seconds before a POST counts as timed out")
    parser.add_argument("--server-pid", type=int)
    parser.add_argument("--out")
    args = parser.parse_args()
    raise_open_files_limit()
    try:
        import uvloop
    except ImportError:
        result = asyncio.run(Run(args).run())
    else:
        result = uvloop.run(Run(args).run())
    text = json.dumps(result, indent=1)
    if args.out:
        Path(args.out).write_text(text)
    else:
        print(text)


if __name__ == "__main__":
    main()
