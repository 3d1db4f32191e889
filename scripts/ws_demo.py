#!/usr/bin/env python3
"""Watch Fiko's WebSocket frames live (seeds 000-003), e.g. against `make run`.

    .venv/bin/python scripts/ws_demo.py                       # log in as demo/demo, watch /ws/conversations/
    .venv/bin/python scripts/ws_demo.py --base http://127.0.0.1:8010   # a server on another port
    .venv/bin/python scripts/ws_demo.py --customers           # ... and /ws/customers/
    .venv/bin/python scripts/ws_demo.py --chat 3 --send "Hi"  # ... and /ws/chat/3/, sending one message
    .venv/bin/python scripts/ws_demo.py --token <access> --filters '{"status": "active"}'

Logs in at POST /api/auth/token/ (or uses --token), then connects with the subprotocol pair
["bearer", <token>], so the token never appears in a URL or a server log. Prints every frame as
it arrives, one line each (--full for the whole JSON). Ctrl-C stops; --seconds stops by itself.
Needs the `websockets` package (in requirements.txt); the rest is the standard library. Without
--base: PUBLIC_BASE_URL from the environment or from the .env.dev that `make run` wrote (so the
server `make run` started, on any PORT), else http://127.0.0.1:8000.
"""
import argparse
import asyncio
import json
import os
import sys
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path

import websockets
from websockets.exceptions import ConnectionClosed
from websockets.typing import Subprotocol

CLOSE_REASONS = {1000: "closed normally", 1008: "token missing, invalid, expired or of the wrong kind",
                 1011: "server error", 4404: "conversation not found (or not yours)"}


def default_base() -> str:
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from fiko import dev_env

    dev_env.load()
    return os.environ.get("PUBLIC_BASE_URL") or "http://127.0.0.1:8000"


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--base", default=default_base(), help="server base URL (default: %(default)s)")
    parser.add_argument("--username", default="demo", help="staff username (default: %(default)s)")
    parser.add_argument("--password", default="demo", help="staff password (default: %(default)s)")
    parser.add_argument("--token", help="a staff access token; skips the login")
    parser.add_argument("--customers", action="store_true", help="also watch /ws/customers/")
    parser.add_argument("--no-conversations", action="store_true", help="do not watch /ws/conversations/")
    parser.add_argument("--chat", type=int, metavar="ID", help="also open /ws/chat/ID/")
    parser.add_argument("--send", metavar="TEXT", help="send TEXT as a chat_message on --chat once connected")
    parser.add_argument("--role", choices=["support", "marketing"], default="support", help="role of --send")
    parser.add_argument("--mark-read", action="store_true", help="send mark_read on --chat once connected")
    parser.add_argument("--filters", type=json.loads, default=None, metavar="JSON",
                        help="filters for get_conversations / get_customers, e.g. '{\"search\": \"john\"}'")
    parser.add_argument("--seconds", type=float, help="stop after this many seconds (default: run until Ctrl-C)")
    parser.add_argument("--full", action="store_true", help="print whole frames instead of a summary")
    args = parser.parse_args(argv)
    if (args.send or args.mark_read) and args.chat is None:
        parser.error("--send and --mark-read need --chat ID")
    return args


def login(base: str, username: str, password: str) -> str:
    request = urllib.request.Request(
        f"{base.rstrip('/')}/api/auth/token/", method="POST",
        data=json.dumps({"username": username, "password": password}).encode(),
        headers={"Content-Type": "application/json", "Accept": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return json.load(response)["access"]
    except urllib.error.HTTPError as exc:
        detail = exc.read().decode(errors="replace")[:300]
        raise SystemExit(f"login failed: HTTP {exc.code} {detail} (or pass --token)")
    except (urllib.error.URLError, OSError) as exc:
        raise SystemExit(f"cannot reach {base}: {exc} (is `make run` serving there?)")


def ws_url(base: str, path: str) -> str:
    base = base.rstrip("/")
    if base.startswith("https://"):
        return "wss://" + base[len("https://"):] + path
    return "ws://" + base.removeprefix("http://") + path


def summary(frame: dict) -> str:
    """One readable line per frame type; the rest of the frame is left out."""
    kind = frame.get("type")
    if kind == "customers_list":
        names = ", ".join(f"{c['first_name']} {c['last_name']}".strip() or f"#{c['id']}" for c in frame["customers"][:5])
        return f"{frame['count']} customers (page {frame['pagination']['page']}): {names}"
    if kind == "conversations_list":
        rows = ", ".join(f"#{c['id']} {c['title']} [{c['status']}, unread {c['unread_count']}]"
                         for c in frame["conversations"][:5])
        return f"{frame['count']} conversations: {rows}"
    if kind in ("recent_messages", "messages_page"):
        last = frame["messages"][-1] if frame["messages"] else None
        tail = f"; last #{last['seq']} {last['sender_name']}: {last['content'][:60]!r}" if last else ""
        return f"{len(frame['messages'])} messages, has_more={frame['has_more']}{tail}"
    if kind in ("chat_message", "message_updated", "new_customer_message"):
        m = frame["message"]
        return (f"#{m['seq']} in {m['conversation_id']} {m['type']}/{m['sender_name']}: {m['content'][:80]!r}"
                f" [{m['delivery_status']}]")
    if kind in ("conversation_updated", "conversation_created"):
        c = frame["conversation"]
        return f"#{c['id']} {c['title']} status={c['status']} unread={c['unread_count']}"
    if kind in ("customer_created", "customer_updated"):
        c = frame["customer"]
        return f"#{c['id']} {c['first_name']} {c['last_name']} unread={c['unread_count']}"
    if kind == "error":
        return f"{frame.get('code')}: {frame.get('error')}"
    rest = {k: v for k, v in frame.items() if k != "type"}
    return json.dumps(rest, ensure_ascii=False)[:200]


def show(label: str, frame: dict, full: bool):
    stamp = time.strftime("%H:%M:%S")
    text = json.dumps(frame, ensure_ascii=False, indent=2) if full else summary(frame)
    print(f"[{stamp}] {label:<13} {frame.get('type', '?'):<22} {text}", flush=True)


async def watch(label: str, url: str, token: str, first_frames: list[dict], args, on_frame=None):
    subprotocols = [Subprotocol("bearer"), Subprotocol(token)]
    try:
        async with websockets.connect(url, subprotocols=subprotocols, open_timeout=10, max_size=2**20) as ws:
            print(f"[{time.strftime('%H:%M:%S')}] {label:<13} connected to {url}", flush=True)
            for frame in first_frames:
                await ws.send(json.dumps(frame))
            async for raw in ws:
                frame = json.loads(raw)
                show(label, frame, args.full)
                if on_frame:
                    await on_frame(ws, frame)
    except ConnectionClosed as exc:
        code = exc.rcvd.code if exc.rcvd else None
        print(f"[{time.strftime('%H:%M:%S')}] {label:<13} closed: {code} {CLOSE_REASONS.get(code, '')}", flush=True)
    except (OSError, websockets.InvalidHandshake) as exc:
        print(f"[{time.strftime('%H:%M:%S')}] {label:<13} cannot connect: {exc}", flush=True)


async def main(args) -> int:
    token = args.token or login(args.base, args.username, args.password)
    listing = {"filters": args.filters} if args.filters else {}
    tasks = []
    if not args.no_conversations:
        tasks.append(watch("conversations", ws_url(args.base, "/ws/conversations/"), token,
                           [{"type": "get_conversations", **listing}], args))
    if args.customers:
        tasks.append(watch("customers", ws_url(args.base, "/ws/customers/"), token,
                           [{"type": "get_customers", **listing}, {"type": "get_filter_options"}], args))
    if args.chat is not None:
        async def after_recent(ws, frame):
            if frame.get("type") != "recent_messages":
                return
            if args.send:
                await ws.send(json.dumps({"type": "chat_message", "content": args.send, "role": args.role,
                                          "client_message_id": uuid.uuid4().hex}))
            if args.mark_read:
                await ws.send(json.dumps({"type": "mark_read"}))

        tasks.append(watch(f"chat {args.chat}", ws_url(args.base, f"/ws/chat/{args.chat}/"), token, [], args,
                           on_frame=after_recent))
    if not tasks:
        print("nothing to watch", file=sys.stderr)
        return 2
    running = asyncio.gather(*tasks)
    try:
        await asyncio.wait_for(running, timeout=args.seconds)
    except asyncio.TimeoutError:
        pass
    return 0


if __name__ == "__main__":
    try:
        sys.exit(asyncio.run(main(parse_args())))
    except KeyboardInterrupt:
        sys.exit(0)
