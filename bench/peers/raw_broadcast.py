"""The Python ceiling: a raw `websockets` server that broadcasts within rooms, in memory.

No framework, no channel layer, no database, no JSON parsing: a text frame received on
``/ws/chat/<room>/`` is written as is to every socket of that room, the sender's included
(as Fiko and the tutorial peer do). One process, uvloop when installed.

    .venv/bin/python bench/peers/raw_broadcast.py --port 8102
"""
import argparse
import asyncio
import re
from collections import defaultdict

from websockets.asyncio.server import broadcast, serve

ROOM_PATH = re.compile(r"^/ws/chat/([^/?]+)/")
rooms: dict[str, set] = defaultdict(set)


async def handler(websocket):
    match = ROOM_PATH.match(websocket.request.path)
    if match is None:
        await websocket.close(1008, "unknown path")
        return
    name = match.group(1)
    room = rooms[name]
    room.add(websocket)
    try:
        async for frame in websocket:
            broadcast(room, frame)
    finally:
        room.discard(websocket)
        if not room:
            rooms.pop(name, None)


async def main(host: str, port: int) -> None:
    # No compression (the load client does not ask for it); stock limits otherwise.
    async with serve(handler, host, port, compression=None, backlog=2048) as server:
        print(f"raw_broadcast: serving on ws://{host}:{port}/ws/chat/<room>/", flush=True)
        await server.serve_forever()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8102)
    args = parser.parse_args()
    try:
        import uvloop
    except ImportError:
        asyncio.run(main(args.host, args.port))
    else:
        uvloop.run(main(args.host, args.port))
