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
- ``errors``: error frames by code, failed connects and sends, unexpected closes by code;
- ``server.rss_series_kb``: [seconds from the send start, RSS] every ~1 s.

A server of several processes: ``--port 8001,8002 --server-pid 11,12``. Socket ``s`` of room
``r`` goes to port ``(r + s) mod N`` (a room's sender and its receivers on different
processes); CPU and RSS are summed over all the processes' trees.

Slow readers: ``--slow K`` adds K sockets per room that complete the handshake (plain TCP
sockets, ``SO_RCVBUF`` ``--slow-rcvbuf``) and then never read until the drain is over; then
they read what reached them, and ``slow`` reports how each ended (close code, reset, EOF,
still open), ``error`` frames by code (``slow_consumer``), bench messages received vs sent,
and the most bytes seen queued in the server's kernel send buffers (``/proc/net/tcp``).
``--message-bytes`` pads messages to about that size on the wire.

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
import base64
import json
import os
import random
import resource
import socket
import struct
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
    """CPU and RSS of one or more process trees (a server of N processes: summed over all of
    them), sampled in the background every 0.5 s (peak RSS and the RSS series)."""

    def __init__(self, pid: "int | list[int] | None"):
        self.pids = [p for p in (pid if isinstance(pid, (list, tuple)) else [pid]) if p]
        self.pid = self.pids[0] if self.pids else None
        self.peak_rss = 0
        self.series: list[tuple[float, int]] = []  # (monotonic, RSS kB) of every sample
        self._task = None

    def tree(self) -> list[int]:
        tree: list[int] = []
        for pid in self.pids:
            tree.extend(p for p in process_tree(pid) if p not in tree)
        return tree

    def snapshot(self) -> tuple[float, float, int]:
        pids = self.tree()
        rss = rss_kb(pids)
        self.peak_rss = max(self.peak_rss, rss)
        now = monotonic()
        self.series.append((now, rss))
        return now, cpu_seconds(pids), rss

    def series_from(self, t0: float, step: float = 1.0) -> list[list[float]]:
        """[seconds since t0, RSS kB], at most one sample per ``step`` seconds."""
        out, last = [], None
        for t, rss in self.series:
            if t < t0 - step:
                continue
            if last is None or t - last >= step:
                out.append([round(t - t0, 1), rss])
                last = t
        return out

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


class SlowSock:
    """A socket that completes the WebSocket handshake (a plain TCP socket with a small
    ``SO_RCVBUF``, so the kernel cannot absorb what the server sends) and then stops reading
    until the end of the run, when it reads what reached it to see how it ended."""

    __slots__ = ("n", "room", "host", "port", "path", "sock", "buf", "frag", "connect_s", "tcp_closed_at",
                 "max_queued", "frames", "bytes", "delivered", "error_codes", "close_code", "outcome")

    def __init__(self, n: int, room: int, host: str, port: int, path: str):
        self.n, self.room, self.host, self.port, self.path = n, room, host, port, path
        self.sock = None
        self.buf = bytearray()
        self.frag = bytearray()
        self.connect_s = None
        self.tcp_closed_at = None  # seconds after the send start when TCP left ESTABLISHED
        self.max_queued = 0  # most bytes seen waiting in this socket's kernel receive queue
        self.frames = self.bytes = self.delivered = 0
        self.error_codes = Counter()
        self.close_code = None
        self.outcome = None


def ws_frames(buf: bytearray) -> list[tuple[bool, int, bytes]]:
    """Remove the complete frames at the start of ``buf`` and return (fin, opcode, payload)."""
    frames, i, n = [], 0, len(buf)
    while n - i >= 2:
        b0, b1 = buf[i], buf[i + 1]
        length, j = b1 & 0x7F, i + 2
        if length == 126:
            if n - j < 2:
                break
            length, j = int.from_bytes(buf[j:j + 2], "big"), j + 2
        elif length == 127:
            if n - j < 8:
                break
            length, j = int.from_bytes(buf[j:j + 8], "big"), j + 8
        if b1 & 0x80:  # masked (a server does not mask); the payload is not needed unmasked
            j += 4
        if n - j < length:
            break
        frames.append((bool(b0 & 0x80), b0 & 0x0F, bytes(buf[j:j + length])))
        i = j + length
    del buf[:i]
    return frames


TCP_ESTABLISHED = 1
FIONREAD = 0x541B  # Linux


def tcp_state(sock: socket.socket) -> tuple[int | None, int]:
    """(TCP state from TCP_INFO, bytes waiting in the kernel receive queue)."""
    import fcntl

    try:
        state = sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 8)[0]
        queued = struct.unpack("i", fcntl.ioctl(sock.fileno(), FIONREAD, b"\0\0\0\0"))[0]
    except OSError:
        return None, 0
    return state, queued


def server_send_queues(pairs: set[tuple[int, int]]) -> int:
    """Bytes in the kernel send queues of the server's side of these (server port, client
    port) loopback connections, from /proc/net/tcp: what the server handed to the kernel and
    the slow reader has not taken (not in the server's RSS)."""
    total = 0
    try:
        with open("/proc/net/tcp") as f:
            next(f)
            for line in f:
                fields = line.split()
                local, remote, queues = fields[1], fields[2], fields[4]
                if (int(local.rsplit(":", 1)[1], 16), int(remote.rsplit(":", 1)[1], 16)) in pairs:
                    total += int(queues.split(":")[0], 16)
    except (OSError, ValueError, IndexError):
        pass
    return total


class Client:
    def __init__(self, args):
        self.args = args
        self.stats = Stats()
        self.prefix = f"bench{random.randrange(10**6)}"
        self.ports = [int(p) for p in str(args.port).split(",") if p]
        self.origin = f"http://{args.host}:{self.ports[0]}"
        self.pad = self.padding()
        self.sent_by_room = Counter()
        self.slow: list[SlowSock] = []
        self.max_server_send_queue = 0

    def padding(self) -> str:
        """Filler that brings a message's frame to about ``--message-bytes``. Fiko limits a
        message to 4,096 characters, so for Fiko the filler is 4-byte UTF-8 characters (Fiko
        writes frames with ``ensure_ascii=False``: 4 bytes each on the wire); the peers echo
        with ``json.dumps`` (``\\ud83d\\ude00``, 12 bytes each), so for them it is ASCII."""
        size = self.args.message_bytes
        if not size:
            return "x"
        header = 64  # "benchNNNNNN <sender> <seq> <monotonic> " and the JSON around the content
        if self.args.target == "fiko":
            return "\U0001F600" * max(1, min((size - header) // 4, 4096 - header))
        return "x" * max(1, size - header)

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
                # Same-origin as a browser on that process's page would be (Fiko checks Origin == Host).
                origin = "http://" + sock.url.split("/", 3)[2]
                ws = await connect(
                    sock.url, origin=origin, compression=None, open_timeout=self.args.open_timeout,
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
            frame = self.outbound(f"{self.prefix} {sender_id} {seq} {now:.6f} {self.pad}")
            try:
                await sock.ws.send(frame)
            except websockets.exceptions.ConnectionClosed:
                stats.errors["send_on_closed_socket"] += 1
                return
            if stats.first_send is None:
                stats.first_send = now
            stats.sent += 1
            stats.expected += room_size
            self.sent_by_room[sock.room] += 1
            next_at += interval

    # the run
    def port_for(self, room_index: int, socket_index: int) -> int:
        """Sockets go round-robin over the server's processes (one port each), shifted by the
        room, so a room's sender and its receivers sit on different processes."""
        return self.ports[(room_index + socket_index) % len(self.ports)]

    def path(self, room_index: int, socket_index: int) -> str:
        if self.args.target == "fiko":
            room = self.rooms[room_index]
            token = self.tokens[socket_index % len(self.tokens)]
            return f"/ws/chat/{room}/?token={token}"
        return f"/ws/chat/{room_index + 1}/"

    def url(self, room_index: int, socket_index: int) -> str:
        port = self.port_for(room_index, socket_index)
        return f"ws://{self.args.host}:{port}{self.path(room_index, socket_index)}"

    # --- slow (non-reading) sockets
    def slow_frames(self, sock: SlowSock) -> bool:
        """Account the complete frames in ``sock.buf``; True once a close frame was read."""
        for fin, opcode, payload in ws_frames(sock.buf):
            if opcode == 0x8:
                sock.close_code = int.from_bytes(payload[:2], "big") if len(payload) >= 2 else 1005
                return True
            if opcode in (0x1, 0x2, 0x0):
                sock.frag += payload
                if not fin:
                    continue
                raw, sock.frag = bytes(sock.frag), bytearray()
                sock.frames += 1
                try:
                    frame = loads(raw)
                except ValueError:
                    sock.error_codes["bad_frame"] += 1
                    continue
                if self.args.target == "fiko":
                    if frame.get("type") == "error":
                        sock.error_codes[str(frame.get("code"))] += 1
                        continue
                    content = frame.get("message", {}).get("content") if frame.get("type") == "chat_message" else None
                else:
                    content = frame.get("message")
                if isinstance(content, str) and content.startswith(self.prefix):
                    sock.delivered += 1
            # ping / pong: a slow reader does not answer pings
        return False

    async def open_slow(self, sock: SlowSock, sem: asyncio.Semaphore) -> None:
        args, loop = self.args, asyncio.get_running_loop()
        async with sem:
            started = monotonic()
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            # Before connect, so the advertised window stays small (the kernel doubles it).
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, args.slow_rcvbuf)
            s.setblocking(False)
            try:
                await asyncio.wait_for(loop.sock_connect(s, (sock.host, sock.port)), args.open_timeout)
                key = base64.b64encode(os.urandom(16)).decode()
                request = (f"GET {sock.path} HTTP/1.1\r\nHost: {sock.host}:{sock.port}\r\n"
                           f"Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
                           f"Sec-WebSocket-Version: 13\r\nOrigin: http://{sock.host}:{sock.port}\r\n\r\n")
                await loop.sock_sendall(s, request.encode())
                deadline = monotonic() + args.open_timeout
                while b"\r\n\r\n" not in sock.buf:
                    chunk = await asyncio.wait_for(loop.sock_recv(s, 4096), max(0.01, deadline - monotonic()))
                    if not chunk:
                        raise ConnectionError("closed during the handshake")
                    sock.buf += chunk
                head, _, rest = bytes(sock.buf).partition(b"\r\n\r\n")
                sock.buf = bytearray(rest)
                status = head.split(b" ", 2)[1].decode(errors="replace") if b" " in head else "?"
                if status != "101":
                    self.stats.errors[f"slow_connect_http_{status}"] += 1
                    s.close()
                    return
                if args.target == "fiko":
                    # Joined once the first frame (recent_messages) is in; then stop reading.
                    while not ws_frames(sock.buf.copy()):
                        chunk = await asyncio.wait_for(loop.sock_recv(s, 65536), max(0.01, deadline - monotonic()))
                        if not chunk:
                            raise ConnectionError("closed before the first frame")
                        sock.buf += chunk
                    first = ws_frames(sock.buf)[0]
                    if first[1] == 0x8:
                        code = int.from_bytes(first[2][:2], "big") if len(first[2]) >= 2 else 1005
                        self.stats.errors[f"slow_connect_closed_{code}"] += 1
                        s.close()
                        return
            except (OSError, asyncio.TimeoutError, ConnectionError, IndexError) as exc:
                self.stats.errors[f"slow_connect_{type(exc).__name__}"] += 1
                s.close()
                return
            sock.sock = s
            sock.connect_s = monotonic() - started

    async def watch_slow(self, t0_ref: list) -> None:
        """Every 0.5 s: has TCP left ESTABLISHED (the server closed or reset it, seen without
        reading), and how much waits unread in the client's receive queue."""
        pairs = set()
        for sock in self.slow:
            if sock.sock is not None:
                try:
                    pairs.add((sock.port, sock.sock.getsockname()[1]))
                except OSError:
                    pass
        while True:
            self.max_server_send_queue = max(self.max_server_send_queue, server_send_queues(pairs))
            for sock in self.slow:
                if sock.sock is None:
                    continue
                state, queued = tcp_state(sock.sock)
                sock.max_queued = max(sock.max_queued, queued)
                if state is not None and state != TCP_ESTABLISHED and sock.tcp_closed_at is None:
                    sock.tcp_closed_at = round(monotonic() - (t0_ref[0] or monotonic()), 1)
            await asyncio.sleep(0.5)

    async def wake_slow(self, sock: SlowSock) -> None:
        """Read everything that reached the socket, to see whether and how the server ended it."""
        s, loop = sock.sock, asyncio.get_running_loop()
        try:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 22)
        except OSError:
            pass
        if self.slow_frames(sock):
            sock.outcome = "close_frame"
            return
        while True:
            try:
                chunk = await asyncio.wait_for(loop.sock_recv(s, 1 << 20), self.args.slow_idle)
            except asyncio.TimeoutError:
                sock.outcome = "open"  # nothing more came: the server kept the socket
                return
            except OSError:
                sock.outcome = "reset"
                return
            if not chunk:
                sock.outcome = "eof_without_close_frame"
                return
            sock.bytes += len(chunk)
            sock.buf += chunk
            if self.slow_frames(sock):
                sock.outcome = "close_frame"
                return

    def slow_report(self) -> dict | None:
        if not self.args.slow:
            return None
        connected = [s for s in self.slow if s.sock is not None]
        closed = [s for s in connected if s.outcome in ("close_frame", "reset", "eof_without_close_frame")]
        codes = Counter(str(s.close_code) if s.close_code is not None else s.outcome for s in closed)
        errors = Counter()
        for s in connected:
            errors.update(s.error_codes)
        expected = sum(self.sent_by_room[s.room] for s in connected)
        tcp_closed = sorted(s.tcp_closed_at for s in connected if s.tcp_closed_at is not None)
        return {
            "sockets": len(self.slow), "connected": len(connected), "rcvbuf_requested": self.args.slow_rcvbuf,
            "closed_by_server": len(closed), "close_codes": dict(codes),
            "outcomes": dict(Counter(s.outcome or "not_read" for s in connected)),
            "error_frames": dict(errors),
            "slow_consumer_error_frames": errors.get("slow_consumer", 0),
            "messages_expected": expected, "messages_received": sum(s.delivered for s in connected),
            "bytes_read_at_end": sum(s.bytes for s in connected),
            "tcp_left_established_during_run": len(tcp_closed),
            "tcp_left_established_at_s": tcp_closed[:20],
            "max_client_queued_bytes": max((s.max_queued for s in connected), default=0),
            "max_server_kernel_send_queue_bytes": self.max_server_send_queue,
        }

    async def run(self) -> dict:
        args = self.args
        if args.target == "fiko":
            plan = json.loads(open(args.plan).read())
            self.rooms, self.tokens = plan["conversations"], plan["tokens"]
            if len(self.rooms) < args.rooms:
                raise SystemExit(f"the plan has {len(self.rooms)} conversations, {args.rooms} needed")
        server_pids = [int(p) for p in str(args.server_pid or "").split(",") if p]
        server, me = Meter(server_pids), Meter(os.getpid())
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
        if args.slow:
            self.slow = [SlowSock(r * args.slow + k, r, args.host, self.port_for(r, args.sockets + k),
                                  self.path(r, args.sockets + k))
                         for r in range(args.rooms) for k in range(args.slow)]
            await asyncio.gather(*(self.open_slow(sock, sem) for sock in self.slow))
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

        send_window = drain_used = t_start = t_end = at_last_send = after_slow = None
        slow_t0 = [None]
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
            slow_t0[0] = t_start
            watcher = asyncio.create_task(self.watch_slow(slow_t0)) if self.slow else None
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
            at_last_send = server.snapshot()
            send_window = round(last_send - t_start, 3)
            while self.stats.delivered < self.stats.expected and monotonic() - last_send < args.drain:
                await asyncio.sleep(0.05)
            if self.slow:  # the slow sockets hold the server's memory for the whole drain
                while monotonic() - last_send < args.drain:
                    await asyncio.sleep(0.05)
            drain_used = round(monotonic() - last_send, 3)
            window_end = end = server.snapshot()
            if watcher:
                watcher.cancel()
                woken = [asyncio.create_task(self.wake_slow(s)) for s in self.slow if s.sock is not None]
                if woken:
                    _, pending = await asyncio.wait(woken, timeout=args.slow_wake_timeout)
                    for task in pending:
                        task.cancel()
                for sock in self.slow:
                    if sock.sock is not None:
                        if sock.outcome is None:
                            sock.outcome = "still_reading"
                        try:  # a masked close frame (1000), so servers do not log an abrupt close
                            sock.sock.send(b"\x88\x82\0\0\0\0\x03\xe8")
                        except OSError:
                            pass
                        sock.sock.close()
                await asyncio.sleep(1)
                after_slow = server.snapshot()

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
        n_ready = max(len(ready), 1) + len([s for s in self.slow if s.sock is not None])
        rss_series = server.series_from(t_start) if t_start is not None else None
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
                "rss_growth_per_s_kb": (round((at_last_send[2] - rss_connected) / send_window, 1)
                                        if at_last_send and send_window else None),
                "rss_after_slow_read_kb": after_slow[2] if after_slow else None,
                "processes": len(server_pids),
                "rss_series_kb": rss_series,  # [seconds since the send start, RSS kB]
            } if server_pids else None,
            "ports": self.ports,
            "message_frame_bytes": len(self.outbound(f"{self.prefix} 1000 1 {monotonic():.6f} {self.pad}").encode()),
            "slow": self.slow_report(),
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
    parser.add_argument("--port", required=True,
                        help="a port, or several comma-separated (one per server process): sockets go round-robin")
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
    parser.add_argument("--server-pid", help="read CPU and RSS of this process and its children "
                        "(comma-separated pids: summed over all)")
    parser.add_argument("--message-bytes", type=int, default=0,
                        help="pad each message to about this many bytes on the wire (Fiko: at most 4,096 characters)")
    parser.add_argument("--slow", type=int, default=0,
                        help="per room, this many more sockets that complete the handshake and then never read")
    parser.add_argument("--slow-rcvbuf", type=int, default=4096, help="SO_RCVBUF of a slow socket, bytes")
    parser.add_argument("--slow-idle", type=float, default=3.0,
                        help="at the end, a slow socket that gets nothing for this long is still open")
    parser.add_argument("--slow-wake-timeout", type=float, default=60.0,
                        help="at most this long to read what reached the slow sockets at the end")
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
