"""A tiny scripted stand-in for the game server, for SDK and load-tool tests.

Why a fake as well as the real server: the SDK's hard parts (resume after a drop, a drain
notice, each fatal close code, giving up after N attempts) need a server that misbehaves on
command and deterministically. It speaks the real protocol through the real codecs, but has
no world: every client sees a few fixed NPCs plus the players, and its own inputs echoed.

Also runnable as a process (`python -m tests.client_sdk.fake_server --port P --rate 30`)
that streams synthetic STATE frames, to measure the load tool without the game server.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from websockets.asyncio.connection import broadcast
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed

from protocol.catalogue import PROTOCOL_VERSION, StateFlag
from protocol.control import (
    Chat,
    ChatMessage,
    Hello,
    Leave,
    NpcSay,
    Ping,
    Pong,
    Reconnect,
    Talk,
    Welcome,
    decode_client,
    decode_first,
    encode,
)
from protocol.quant import WorldBounds, quantise_heading, quantise_position
from protocol.state import (
    Move,
    NpcEnter,
    NpcPath,
    PlayerEnter,
    StateFrame,
    decode_input,
    encode_state,
)

WORLD = {"min_x": -4000.0, "min_y": -4000.0, "min_z": -200.0}
WORLD |= {"max_x": 4000.0, "max_y": 4000.0, "max_z": 1800.0}
BOUNDS = WorldBounds.from_dict(WORLD)
NPC_IDS = (1000, 1001, 1002)


@dataclass
class Player:
    player_id: str
    net_id: int
    name: str
    token: str
    x: float = 0.0
    y: float = 0.0
    z: float = 0.0
    heading: float = 0.0
    ws: ServerConnection | None = None
    seq: int = 0
    acks: list[int] = field(default_factory=list)


class FakeServer:
    """Scripted server. `refuse` closes every hello with that code; `drop(p)` cuts a TCP
    connection without a close frame; `drain()` sends `reconnect` then closes 1012."""

    def __init__(self, ping_interval: float | None = None, ping_timeout: float = 1.0) -> None:
        self.ping_interval = ping_interval
        self.ping_timeout = ping_timeout
        self.server: Server | None = None
        self.port = 0
        self.tick = 5000
        self.refuse: int | None = None
        self.players: dict[str, Player] = {}  # by resume token
        self.online: dict[int, Player] = {}  # by net id, players with a socket
        self.hellos: list[Hello] = []
        self.inputs: list[tuple[int, int, int]] = []  # (net_id, seq, ack)
        self.after_ms = 50
        self.resume_window = 60.0  # announced in welcome and reconnect
        self._ids = itertools.count(1)
        self.stream_rate = 0.0
        self.stream_task: asyncio.Task[None] | None = None

    async def start(self) -> FakeServer:
        self.server = await serve(
            self._handle,
            "127.0.0.1",
            self.port,
            compression=None,
            ping_interval=self.ping_interval,
            ping_timeout=self.ping_timeout,
        )
        self.port = self.server.sockets[0].getsockname()[1]
        if self.stream_rate > 0:
            self.stream_task = asyncio.create_task(self._stream())
        return self

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/ws"

    async def close(self) -> None:
        if self.stream_task is not None:
            self.stream_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.stream_task
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()

    def connected(self) -> list[Player]:
        return list(self.online.values())

    def by_name(self, name: str) -> Player:
        return next(p for p in self.players.values() if p.name == name)

    def drop(self, p: Player) -> None:
        assert p.ws is not None
        p.ws.transport.abort()

    async def drain(self) -> None:
        for p in self.connected():
            assert p.ws is not None
            msg = Reconnect(
                resume_token=p.token,
                after_ms=self.after_ms,
                resume_window=self.resume_window,
                reason="drain",
            )
            with contextlib.suppress(ConnectionClosed):
                await p.ws.send(encode(msg), text=True)
                await p.ws.close(1012, "restart")

    async def close_player(self, p: Player, code: int, reason: str = "") -> None:
        assert p.ws is not None
        await p.ws.close(code, reason)

    # --- protocol ---------------------------------------------------------------------------

    def _frame(self, p: Player, **kw: Any) -> bytes:
        p.seq += 1
        self.tick += 2
        return encode_state(StateFrame(p.seq, self.tick, time.time(), **kw))

    def _player_enter(self, p: Player) -> PlayerEnter:
        qx, qy, qz = quantise_position(BOUNDS, p.x, p.y, p.z)
        return PlayerEnter(p.net_id, qx, qy, qz, quantise_heading(p.heading), 100, p.name)

    def _move(self, p: Player) -> Move:
        qx, qy, qz = quantise_position(BOUNDS, p.x, p.y, p.z)
        return Move(p.net_id, qx, qy, qz, quantise_heading(p.heading))

    async def _send_all(self, data: bytes | str, *, except_: Player | None = None) -> None:
        for o in self.connected():
            if o is not except_ and o.ws is not None:
                with contextlib.suppress(ConnectionClosed):
                    await o.ws.send(data)

    async def _handle(self, ws: ServerConnection) -> None:
        try:
            first = await ws.recv()
            hello = decode_first(first)
        except Exception:
            await ws.close(4003, "bad hello")
            return
        self.hellos.append(hello)
        if self.refuse is not None:
            await ws.close(self.refuse, "refused by test")
            return
        p = self.players.get(hello.resume or "")
        resumed = p is not None
        if p is None:
            n = next(self._ids)
            p = Player(str(uuid.uuid4()), n, hello.name, f"tok-{n}")
            self.players[p.token] = p
        elif p.ws is not None:
            old = p.ws
            p.ws = None
            await old.close(4010, "replaced")
        p.ws, p.seq = ws, 0
        self.online[p.net_id] = p
        welcome = Welcome(
            v=PROTOCOL_VERSION,
            player_id=p.player_id,
            net_id=p.net_id,
            name=p.name,
            server_name="fake",
            tick_rate=60,
            send_rate=30,
            tick=self.tick,
            server_time=time.time(),
            world=dict(WORLD),
            aoi_radius=300.0,
            aoi_cell_size=50.0,
            resume_token=p.token,
            resume_window=self.resume_window,
            max_message_size=4096,
            input_rate_limit=60,
            resumed=resumed,
            x=p.x,
            y=p.y,
            z=p.z,
            heading=p.heading,
        )
        await ws.send(encode(welcome), text=True)
        npcs = [NpcEnter(i, 7, NpcPath(32768, 32768, 3277, 33000, 33000, 20, 0)) for i in NPC_IDS]
        others = [self._player_enter(o) for o in list(self.online.values())[:50]]
        await ws.send(self._frame(p, flags=StateFlag.FULL, enters=[*npcs, *others]))
        for o in self.connected() if self.stream_rate == 0 else ():
            if o is not p and o.ws is not None:
                with contextlib.suppress(ConnectionClosed):
                    await o.ws.send(self._frame(o, enters=[self._player_enter(p)]))
        try:
            async for msg in ws:
                if isinstance(msg, bytes):
                    inp = decode_input(msg)
                    self.inputs.append((p.net_id, inp.seq, inp.ack))
                    p.x, p.y, p.z, p.heading = inp.x, inp.y, inp.z, inp.heading
                    if self.stream_rate > 0:
                        continue  # streaming: the synthetic frames are the whole load
                    for o in self.connected():
                        if o.ws is not None:
                            with contextlib.suppress(ConnectionClosed):
                                await o.ws.send(self._frame(o, moves=[self._move(p)]))
                    continue
                m = decode_client(msg)
                if isinstance(m, Ping):
                    await ws.send(encode(Pong(id=m.id, server_time=time.time(), t=m.t)), text=True)
                elif isinstance(m, Chat):
                    out = encode(ChatMessage(from_id=p.net_id, name=p.name, text=m.text))
                    await self._send_all(out.decode())
                elif isinstance(m, Talk):
                    say = NpcSay(npc=m.npc, to=p.net_id, text=f"you said: {m.text}")
                    await ws.send(encode(say), text=True)
                elif isinstance(m, Leave):
                    del self.players[p.token]
                    await ws.close(1000, "bye")
                    break
        except ConnectionClosed:
            pass
        finally:
            if p.ws is ws:
                p.ws = None
                self.online.pop(p.net_id, None)
                for o in self.connected() if self.stream_rate == 0 else ():
                    if o.ws is not None:
                        with contextlib.suppress(ConnectionClosed):
                            await o.ws.send(self._frame(o, leaves=[p.net_id]))

    async def _stream(self) -> None:
        """Synthetic load: at `stream_rate`, every client gets the same delta of 28 MOVE
        records (about the size of a city-scenario patch), encoded once per tick."""
        interval = 1.0 / self.stream_rate
        moves = [Move(2000 + i, 100 * i, 200, 300, i) for i in range(28)]
        nxt = time.monotonic()
        seq = 0
        while True:
            nxt += interval
            await asyncio.sleep(max(0.0, nxt - time.monotonic()))
            self.tick += 2
            seq += 1
            data = encode_state(StateFrame(seq, self.tick, time.time(), moves=moves))
            broadcast([p.ws for p in self.online.values() if p.ws is not None], data)


async def _main(port: int, rate: float, seconds: float) -> None:
    import resource

    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    srv = FakeServer()
    srv.port, srv.stream_rate = port, rate
    await srv.start()
    print(f"fake server on {srv.url}", flush=True)
    await asyncio.sleep(seconds)
    await srv.close()


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--rate", type=float, default=30.0, help="STATE frames per client per second")
    ap.add_argument("--seconds", type=float, default=60.0, help="how long to serve")
    a = ap.parse_args()
    import uvloop

    with contextlib.suppress(KeyboardInterrupt):
        uvloop.run(_main(a.port, a.rate, a.seconds))
