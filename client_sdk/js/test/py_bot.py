"""A Python SDK bot for the JavaScript SDK's tests: the reference view of the same world.

    python py_bot.py URL NAME [--walk RADIUS]

Prints one JSON object per line on stdout: `welcome` once, then `view` five times a second
(every entity it sees, quantised as on the wire, plus NPC positions at the view's tick).
With --walk it walks a circle around its spawn point. It leaves when stdin closes.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import sys
import threading
from typing import Any

from client_sdk import Npc, Player, connect


def describe(e: Player | Npc) -> list[Any]:
    if isinstance(e, Player):
        return ["p", e.qx, e.qy, e.qz, e.qheading, e.name]
    p = e.path
    return ["n", e.model, p.qx, p.qy, p.qz, p.wx, p.wy, p.speed, p.start_tick]


def emit(obj: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


async def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("url")
    ap.add_argument("name")
    ap.add_argument("--walk", type=float, default=0.0, help="walk a circle of this radius (m)")
    args = ap.parse_args()
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    # stdin closing is the signal to leave (the test owns this process).
    threading.Thread(
        target=lambda: (sys.stdin.read(), loop.call_soon_threadsafe(stop.set)), daemon=True
    ).start()
    async with connect(args.url, name=args.name) as client:
        w = client.welcome
        assert w is not None
        emit({"ev": "welcome", "net_id": w.net_id, "player_id": w.player_id, "x": w.x, "y": w.y})
        t0 = loop.time()
        next_view = 0.0
        while not stop.is_set():
            now = loop.time()
            if args.walk > 0:
                a = (now - t0) * 4.0 / args.walk  # 4 m/s along the circle
                x = w.x + args.walk * (math.cos(a) - 1.0)
                y = w.y + args.walk * math.sin(a)
                client.move(x, y, w.z, math.degrees(a) % 360.0)
            if now >= next_view:
                next_view = now + 0.2
                m = client.mirror
                ents = dict(client.entities)
                emit(
                    {
                        "ev": "view",
                        "tick": m.last_tick,
                        "seq": m.last_seq,
                        "entities": {str(k): describe(e) for k, e in ents.items()},
                        "npc_at": {
                            str(k): list(m.npc_position(e))
                            for k, e in ents.items()
                            if isinstance(e, Npc)
                        },
                    }
                )
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), 0.1)


if __name__ == "__main__":
    asyncio.run(main())
