"""Load client: R rooms × S sockets, K senders per room at a rate, for a duration.

Runs in its own process (``bench/run.py`` starts one per workload). It opens every socket,
then sends messages whose content carries a send timestamp (``time.monotonic()`` of this
process, which also receives them), waits for the deliveries to arrive (at most ``--drain``
seconds after the last send) and prints one JSON object with:

- ``delivered``, ``expected``, ``loss``: first deliveries received vs. messages sent × sockets
  in the room (the sender's own socket included: every target echoes to it);
  ``duplicates`` and ``out_of_order`` are counted apart, never as deliveries;
- ``delivered_per_s``: deliveries / (the later of the send window's end and the last delivery
  − the send window's start);
- ``latency_ms``: p50/p95/p99/max from the timestamp in each delivered message;
- ``connect``: sockets ready, failed, rate (ready sockets / time from the first attempt to the
  last ready) and p50/p99 of the time to ready. Ready means: handshake done, and for Fiko the
  first frame (``recent_messages``) received, i.e. authenticated, conversation checked, joined;
- ``server``: CPU (% of one core; the server process and its children, from
  ``/proc/<pid>/stat``) during the send window + drain (or during connect for idle runs), RSS
  (``VmRSS`` from ``/proc/<pid>/status``) before connect, once connected, at the end, and peak;
  ``rss_per_socket_kb`` = (RSS connected − RSS before) / sockets;
- ``client``: this process's CPU, so a saturated client is visible;
- ``errors``: error frames by code, failed connects and sends, unexpected closes by code.

Targets and their frames:
  fiko      /ws/chat/<conversation_id>/?token=<staff token>; sends
            {"type": "chat_message", "content": ...}; counts ``chat_message`` frames.
  tutorial  /ws/chat/<room>/; sends and receives {"message": ...}.
  raw       /ws/chat/<room>/; the same frames, echoed as is.

    .venv/bin/python bench/load.py --target raw --port 8102 --rooms 10 --sockets 10 \
        --senders 1 --rate 5 --duration 5
"""
import argparse
import asyncio
import json
import os
import random
import resource
import sys
import time
from collections import Counter

import websockets
from websockets.asyncio.client import connect

try:
    import orjson

    loads = orjson.loads

    def dumps(obj) -> str:
        return orjson.dumps(obj).decode()
except ImportError:  # pragma: no cover - orjson is in requirements.txt
    loads, dumps = json.loads, json.dumps

monotonic = time.monotonic


# --- /proc readings (no psutil) -------------------------------------------------------------
CLK_TCK = os.sysconf("SC_CLK_TCK")


def _stat_fields(pid: int) -> list[str] | None:
    try:
        with open(f"/proc/{pid}/stat") as f:
            data = f.read()
    except OSError:
        return None
    # comm (field 2) may contain spaces and parentheses: split after the last ')'.
    return data[data.rindex(")") + 2:].split()


def process_tree(pid: int) -> list[int]:
    """pid and all its descendants (children of a server: workers, helpers)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        fields = _stat_fields(int(entry))
        if fields:
            children.setdefault(int(fields[1]), []).append(int(entry))
    tree, todo = [], [pid]
    while todo:
        current = todo.pop()
        tree.append(current)
        todo.extend(children.get(current, ()))
    return tree


def cpu_seconds(pids: list[int]) -> float:
    total = 0
    for pid in pids:
        fields = _stat_fields(pid)
        if fields:  # utime, stime are fields 14 and 15 of /proc/<pid>/stat
            total += int(fields[11]) + int(fields[12])
    return total / CLK_TCK


def rss_kb(pids: list[int]) -> int:
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/status") as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1])
                        break
        except OSError:
            pass
    return total


class Meter:
    """CPU and RSS of a process tree, sampled in the background (peak RSS)."""

    def __init__(self, pid: int | None):
        self.pid = pid
        self.peak_rss = 0
        self._task = None

    def tree(self) -> list[int]:
        return process_tree(self.pid) if self.pid else []

    def snapshot(self) -> tuple[float, float, int]:
        pids = self.tree()
        rss = rss_kb(pids)
        self.peak_rss = max(self.peak_rss, rss)
        return monotonic(), cpu_seconds(pids), rss

    async def _sample(self):
        while True:
            self.snapshot()
            await asyncio.sleep(0.5)

    def start(self):
        if self.pid:
            self._task = asyncio.create_task(self._sample())

    def stop(self):
        if self._task:
            self._task.cancel()


def cpu_percent(a, b) -> float | None:
    (t0, c0, _), (t1, c1, _) = a, b
    return round(100 * (c1 - c0) / (t1 - t0), 1) if t1 > t0 else None


def percentile(sorted_values: list[float], q: float) -> float | None:
    if not sorted_values:
        return None
    k = min(len(sorted_values) - 1, max(0, round(q / 100 * (len(sorted_values) - 1))))
    return sorted_values[k]


# --- sockets --------------------------------------------------------------------------------
class Stats:
    def __init__(self):
        self.sent = 0
        self.expected = 0
        self.delivered = 0
        self.duplicates = 0
        self.out_of_order = 0
        self.latencies: list[float] = []
        self.first_send = None
        self.last_delivery = None
        self.errors = Counter()


class Sock:
    __slots__ = ("n", "room", "url", "ws", "ready_at", "connect_s", "highest", "missing", "reader", "closing")

    def __init__(self, n: int, room: int, url: str):
        self.n, self.room, self.url = n, room, url
        self.ws = None
        self.ready_at = None
        self.connect_s = None
        self.highest: dict[int, int] = {}  # sender -> highest seq seen
        self.missing: dict[int, set] = {}  # sender -> seqs skipped below ``highest``
        self.reader = None
        self.closing = False


class Client:
    def __init__(self, args):
        self.args = args
        self.stats = Stats()
        self.prefix = f"bench{random.randrange(10**6)}"
        self.origin = f"http://{args.host}:{args.port}"

    # frames
    def outbound(self, content: str) -> str:
        if self.args.target == "fiko":
            return dumps({"type": "chat_message", "content": content})
        return dumps({"message": content})

    def content_of(self, raw) -> str | None:
        """The bench content of a delivered message, or None (other frames, counted)."""
        try:
            frame = loads(raw)
        except ValueError:
            self.stats.errors["bad_frame"] += 1
            return None
        if self.args.target == "fiko":
            kind = frame.get("type")
            if kind == "chat_message":
                return frame.get("message", {}).get("content")
            if kind == "error":
                self.stats.errors[f"error_frame:{frame.get('code')}"] += 1
            return None
        message = frame.get("message")
        return message if isinstance(message, str) else None

    def on_frame(self, sock: Sock, raw, now: float) -> None:
        content = self.content_of(raw)
        if not content or not content.startswith(self.prefix):
            return
        _, sender, seq, sent_at = content.split(" ", 4)[:4]
        sender, seq = int(sender), int(seq)
        stats = self.stats
        highest = sock.highest.get(sender, 0)
        if seq > highest:
            if seq > highest + 1:
                sock.missing.setdefault(sender, set()).update(range(highest + 1, seq))
            sock.highest[sender] = seq
        else:
            missing = sock.missing.get(sender)
            if missing is None or seq not in missing:
                stats.duplicates += 1
                return
            missing.discard(seq)
            stats.out_of_order += 1
        stats.delivered += 1
        stats.latencies.append((now - float(sent_at)) * 1000)
        stats.last_delivery = now

    # connect / read
    async def open(self, sock: Sock, sem: asyncio.Semaphore) -> None:
        async with sem:
            started = monotonic()
            try:
                ws = await connect(
                    sock.url, origin=self.origin, compression=None, open_timeout=self.args.open_timeout,
                    ping_interval=None, close_timeout=2, max_queue=1024, max_size=2**22,
                )
            except websockets.exceptions.InvalidStatus as exc:
                self.stats.errors[f"connect_http_{exc.response.status_code}"] += 1
                return
            except (OSError, asyncio.TimeoutError, websockets.exceptions.WebSocketException) as exc:
                self.stats.errors[f"connect_{type(exc).__name__}"] += 1
                return
            sock.ws = ws
            if self.args.target == "fiko":
                # Ready once the first frame (recent_messages) is in: auth, access, join done.
                try:
                    first = await asyncio.wait_for(ws.recv(), self.args.open_timeout)
                except websockets.exceptions.ConnectionClosed as exc:
                    code = exc.rcvd.code if exc.rcvd else 1006
                    self.stats.errors[f"connect_closed_{code}"] += 1
                    sock.ws = None
                    return
                except asyncio.TimeoutError:
                    self.stats.errors["connect_no_first_frame"] += 1
                    await ws.close()
                    sock.ws = None
                    return
                if '"recent_messages"' not in first:
                    self.stats.errors["connect_unexpected_first_frame"] += 1
            sock.ready_at = monotonic()
            sock.connect_s = sock.ready_at - started
            sock.reader = asyncio.create_task(self.read(sock))

    async def read(self, sock: Sock) -> None:
        ws = sock.ws
        try:
            async for raw in ws:
                self.on_frame(sock, raw, monotonic())
        except websockets.exceptions.ConnectionClosed:
            pass
        if not sock.closing:
            code = ws.close_code if ws.close_code is not None else 1006
            self.stats.errors[f"closed_by_server_{code}"] += 1

    async def send_loop(self, sock: Sock, sender_id: int, room_size: int, t_start: float, t_end: float) -> None:
        interval = 1 / self.args.rate
        next_at = t_start + random.random() * interval
        seq = 0
        stats = self.stats
        while next_at < t_end:
            delay = next_at - monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            elif -delay > self.args.late_limit:
                # Sends blocked (the server stopped reading): skip what is now too late rather
                # than burst, and say so. Unsent messages are not expected.
                skipped = int((min(t_end, monotonic()) - next_at) / interval) + 1
                stats.errors["send_slots_skipped_late"] += skipped
                next_at += skipped * interval
                continue
            if sock.ws is None or sock.closing:
                return
            seq += 1
            now = monotonic()
            frame = self.outbound(f"{self.prefix} {sender_id} {seq} {now:.6f} x")
            try:
                await sock.ws.send(frame)
            except websockets.exceptions.ConnectionClosed:
                stats.errors["send_on_closed_socket"] += 1
                return
            if stats.first_send is None:
                stats.first_send = now
            stats.sent += 1
            stats.expected += room_size
            next_at += interval

    # the run
    def url(self, room_index: int, socket_index: int) -> str:
        base = f"ws://{self.args.host}:{self.args.port}/ws/chat/"
        if self.args.target == "fiko":
            room = self.rooms[room_index]
            token = self.tokens[socket_index % len(self.tokens)]
            return f"{base}{room}/?token={token}"
        return f"{base}{room_index + 1}/"

    async def run(self) -> dict:
        args = self.args
        if args.target == "fiko":
            plan = json.loads(open(args.plan).read())
            self.rooms, self.tokens = plan["conversations"], plan["tokens"]
            if len(self.rooms) < args.rooms:
                raise SystemExit(f"the plan has {len(self.rooms)} conversations, {args.rooms} needed")
        server, me = Meter(args.server_pid), Meter(os.getpid())
        server.start()
        socks = [Sock(r * args.sockets + s, r, "") for r in range(args.rooms) for s in range(args.sockets)]
        for sock in socks:
            sock.url = self.url(sock.room, sock.n % args.sockets)

        before = server.snapshot()
        me_before = me.snapshot()
        sem = asyncio.Semaphore(args.connect_concurrency)
        t_connect = monotonic()
        await asyncio.gather(*(self.open(sock, sem) for sock in socks))
        ready = [s for s in socks if s.ready_at is not None]
        connect_end = max((s.ready_at for s in ready), default=monotonic())
        connected = server.snapshot()
        connect_times = sorted(s.connect_s * 1000 for s in ready)
        connect = {
            "attempted": len(socks), "ready": len(ready), "failed": len(socks) - len(ready),
            "seconds": round(connect_end - t_connect, 3),
            "rate_per_s": round(len(ready) / (connect_end - t_connect), 1) if ready and connect_end > t_connect else None,
            "p50_ms": _r(percentile(connect_times, 50)), "p99_ms": _r(percentile(connect_times, 99)),
            "max_ms": _r(connect_times[-1] if connect_times else None),
            "server_cpu_percent": cpu_percent(before, connected),
        }

        send_window = drain_used = t_start = t_end = None
        if args.idle:
            await asyncio.sleep(args.hold)
            held = server.snapshot()
            rss_connected = held[2]
            window_start, window_end, end = before, connected, held  # CPU: the connect phase
        else:
            await asyncio.sleep(0.5)  # let handshake work (presence, history) settle
            rss_connected = server.snapshot()[2]
            window_start = server.snapshot()
            t_start = monotonic() + 0.2
            t_end = t_start + args.duration
            by_room: dict[int, list[Sock]] = {}
            for sock in ready:
                by_room.setdefault(sock.room, []).append(sock)
            senders = []
            for room, members in by_room.items():
                for k, sock in enumerate(members[: args.senders]):
                    senders.append(self.send_loop(sock, room * 1000 + k, len(members), t_start, t_end))
            self.n_senders = len(senders)
            await asyncio.gather(*senders)
            last_send = monotonic()
            send_window = round(last_send - t_start, 3)
            while self.stats.delivered < self.stats.expected and monotonic() - last_send < args.drain:
                await asyncio.sleep(0.05)
            drain_used = round(monotonic() - last_send, 3)
            window_end = end = server.snapshot()

        me_after = me.snapshot()
        for sock in socks:
            sock.closing = True
        await asyncio.gather(*(s.ws.close() for s in socks if s.ws is not None), return_exceptions=True)
        for sock in socks:
            if sock.reader:
                sock.reader.cancel()
        server.stop()

        st = self.stats
        lat = sorted(st.latencies)
        # From the start of the send window to its end, or to the last delivery if later: the
        # offered rate for a server that keeps up, its throughput for one that falls behind.
        span = (max(t_end, st.last_delivery or t_end) - t_start) if not args.idle and st.delivered else None
        n_ready = max(len(ready), 1)
        return {
            "target": args.target, "idle": args.idle,
            "rooms": args.rooms, "sockets_per_room": args.sockets, "senders_per_room": args.senders,
            "rate_per_sender": args.rate, "duration_s": args.duration,
            "send_window_s": send_window, "drain_s": drain_used,
            "offered": round(getattr(self, "n_senders", 0) * args.rate * args.duration),
            "sent": st.sent, "expected": st.expected, "delivered": st.delivered,
            "loss": round(1 - st.delivered / st.expected, 4) if st.expected else None,
            "duplicates": st.duplicates, "out_of_order": st.out_of_order,
            "delivered_per_s": round(st.delivered / span, 1) if span else None,
            "latency_ms": {"p50": _r(percentile(lat, 50)), "p95": _r(percentile(lat, 95)),
                           "p99": _r(percentile(lat, 99)), "max": _r(lat[-1] if lat else None)},
            "connect": connect,
            "server": {
                "cpu_percent": cpu_percent(window_start, window_end),
                "rss_before_kb": before[2], "rss_connected_kb": rss_connected,
                "rss_end_kb": end[2], "rss_peak_kb": server.peak_rss,
                "rss_per_socket_kb": round((rss_connected - before[2]) / n_ready, 1),
                "rss_growth_during_run_kb": end[2] - rss_connected,
            } if args.server_pid else None,
            "client": {"cpu_percent": cpu_percent(me_before, me_after)},
            "errors": dict(st.errors),
        }


def _r(value):
    return None if value is None else round(value, 2)


def raise_open_files_limit() -> int:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY:
        hard = 1 << 20
    if soft < hard:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
            soft = hard
        except (ValueError, OSError):
            pass
    return soft


def main() -> None:
    parser = argparse.ArgumentParser(description="WebSocket chat load client (see the module docstring).")
    parser.add_argument("--target", choices=["fiko", "tutorial", "raw"], required=True)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--plan", help="fiko: JSON from bench/prepare.py (conversation ids, staff tokens)")
    parser.add_argument("--rooms", type=int, default=10, help="conversations (R)")
    parser.add_argument("--sockets", type=int, default=10, help="sockets per conversation (S)")
    parser.add_argument("--senders", type=int, default=1, help="senders per conversation (K)")
    parser.add_argument("--rate", type=float, default=1.0, help="messages per second per sender")
    parser.add_argument("--duration", type=float, default=10.0, help="seconds of sending")
    parser.add_argument("--drain", type=float, default=10.0, help="seconds to wait for deliveries after the last send")
    parser.add_argument("--idle", action="store_true", help="connect, hold --hold seconds, send nothing")
    parser.add_argument("--hold", type=float, default=5.0)
    parser.add_argument("--connect-concurrency", type=int, default=100, help="handshakes in flight at once")
    parser.add_argument("--open-timeout", type=float, default=30.0)
    parser.add_argument("--late-limit", type=float, default=1.0,
                        help="a send this many seconds behind schedule is skipped (counted), not sent")
    parser.add_argument("--server-pid", type=int, help="read CPU and RSS of this process and its children")
    parser.add_argument("--out", help="write the JSON result here (default: stdout)")
    args = parser.parse_args()
    if args.target == "fiko" and not args.plan:
        parser.error("--plan is required for --target fiko")
    if args.target == "fiko" and args.rate > 20:
        parser.error("Fiko allows 20 frames/s per socket: use more senders, not a higher rate")
    limit = raise_open_files_limit()
    if limit < args.rooms * args.sockets + 64:
        print(f"load: open files limit {limit} is below {args.rooms * args.sockets} sockets", file=sys.stderr)

    try:
        import uvloop
    except ImportError:
        result = asyncio.run(Client(args).run())
    else:
        result = uvloop.run(Client(args).run())
    result["open_files_limit"] = limit
    text = json.dumps(result, indent=1)
    if args.out:
        with open(args.out, "w") as f:
            f.write(text)
    else:
        print(text)


if __name__ == "__main__":
    main()
