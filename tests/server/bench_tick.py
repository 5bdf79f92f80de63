"""Micro-benchmark of one server tick (simulation + view assembly): not a test, no assertion.

    .venv/bin/python -m tests.server.bench_tick [--players 1000] [--npcs 10000] [--ticks 60]
        [--repeat 5] [--warmup 30] [--digest]

The bench's city (`client_sdk/tools/bench.py`: 10 NPCs per player, 2 km spawn square, 60 Hz
tick, 30 Hz patches) without sockets: players join through the real join path with fake
clients and random-walk like the load test's bots (6 m/s, an INPUT every third tick, a new
heading every 2-6 s), their positions written straight into the world. Prints the CPU cost
(process time, best of `--repeat` blocks of `--ticks` ticks) of `World.step` and of
`ViewAssembler.run` per tick, and of building the wire frame of each sent patch.

`--digest` instead runs a fixed scenario (walks, teleports, paused clients, a join and a leave)
with a fixed server time and prints a SHA-256 of every frame in outbox order: equal digests
before and after a change mean identical bytes on the wire.

`--count world` (or `views`) runs `--ticks` ticks with that step, alone, inside
`functools.reduce`, so that callgrind counts its instructions only (deterministic, whatever
else the machine does):

    PYTHONHASHSEED=0 valgrind --tool=callgrind --callgrind-out-file=/dev/null \\
        --collect-atstart=no --toggle-collect=functools_reduce \\
        .venv/bin/python -m tests.server.bench_tick --count views --ticks 10 --warmup 5
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import gc
import hashlib
import logging
import math
import random
import time
from collections.abc import Callable

from server.net.frames import binary_frame
from server.replication.view import PatchStats
from server.state import ServerState
from server.tick import TickLoop
from tests.server.game_fakes import FakeClient, make_state, place

SPEED = 6.0  # m/s, the load test's default
INPUT_EVERY = 3  # ticks between a bot's INPUTs (20 a second at 60 Hz)
AREA = 2000.0


class Bots:
    """The load test's random walk, one bot per player, all in plain Python (not timed)."""

    def __init__(self, st: ServerState, n: int, seed: int) -> None:
        self.rng = random.Random(seed)
        self.st = st
        self.nids: list[int] = []
        self.clients: list[FakeClient] = []
        self.names: list[str] = []
        self.x: list[float] = []
        self.y: list[float] = []
        self.dx: list[float] = []
        self.dy: list[float] = []
        self.turn_at: list[int] = []
        self.loop = TickLoop(st)
        self.stats = PatchStats()  # of the last tick that assembled frames
        for i in range(n):
            self.join(f"bot{i}")

    def join(self, name: str) -> None:
        half = AREA / 2
        x, y = self.rng.uniform(-half, half), self.rng.uniform(-half, half)
        p, c = place(self.st, name, x, y)
        self.nids.append(p.nid)
        self.clients.append(c)
        self.names.append(name)
        self.x.append(x)
        self.y.append(y)
        self.dx.append(0.0)
        self.dy.append(0.0)
        self.turn_at.append(0)

    def step(self, tick: int) -> None:
        rng = self.rng
        players = self.st.world.players
        half = AREA / 2
        dt = INPUT_EVERY / self.st.config.tickrate
        for i in range(tick % INPUT_EVERY, len(self.nids), INPUT_EVERY):
            if tick >= self.turn_at[i]:
                a = rng.uniform(0.0, 2.0 * math.pi)
                self.dx[i], self.dy[i] = math.cos(a) * SPEED, math.sin(a) * SPEED
                self.turn_at[i] = tick + rng.randrange(120, 360)
            x = self.x[i] + self.dx[i] * dt
            y = self.y[i] + self.dy[i] * dt
            if not -half <= x <= half:
                self.dx[i] = -self.dx[i]
                x = self.x[i]
            if not -half <= y <= half:
                self.dy[i] = -self.dy[i]
                y = self.y[i]
            self.x[i], self.y[i] = x, y
            heading = math.degrees(math.atan2(-self.dx[i], self.dy[i])) % 360.0
            players.place(self.nids[i], x, y, 0.0, heading)

    def teleport(self, i: int, x: float, y: float) -> None:
        self.x[i], self.y[i] = x, y
        self.st.world.players.place(self.nids[i], x, y, 0.0, 0.0)


def build(players: int, npcs: int, seed: int) -> Bots:
    st = make_state(
        max_players=players + 10,
        npc_count=npcs,
        npc_speed=2.0,
        spawn_area_size=AREA,
        tickrate=60,
        send_rate=30,
        aoi_radius=300,
    )
    return Bots(st, players, seed)


def one_tick(bots: Bots, server_time: float) -> tuple[float, float, list[bytes]]:
    """(world step CPU, view assembly CPU, frames) of one tick, the way `TickLoop.tick_once`
    runs them."""
    st = bots.st
    world = st.world
    bots.step(world.tick + 1)
    t0 = time.process_time()
    world.step()
    t1 = time.process_time()
    asm = bots.loop.assembler
    asm.outbox = []
    slots = st.viewers.due(world.tick % st.config.ticks_per_patch)
    if slots.size:
        bots.stats = asm.run(slots, server_time)
    t2 = time.process_time()
    return t1 - t0, t2 - t1, [f for _, f in asm.outbox]


def count(a: argparse.Namespace) -> None:
    """Ticks with one step run inside `functools.reduce`, callgrind's marker (see the top)."""
    bots = build(a.players, a.npcs, a.seed)
    st = bots.st
    world = st.world
    asm = bots.loop.assembler
    for _ in range(a.warmup):
        one_tick(bots, 1000.0)
    gc.collect()
    gc.freeze()
    gc.disable()

    def marked(step: Callable[[], object]) -> None:
        functools.reduce(lambda _, __: step(), (0,), None)

    for _ in range(a.ticks):
        bots.step(world.tick + 1)
        if a.count == "world":
            marked(world.step)
        else:
            world.step()
        asm.outbox = []
        slots = st.viewers.due(world.tick % st.config.ticks_per_patch)
        if slots.size:
            run = functools.partial(asm.run, slots, 1000.0 + world.tick / 60)
            marked(run) if a.count == "views" else run()


def bench(a: argparse.Namespace) -> None:
    bots = build(a.players, a.npcs, a.seed)
    # As a real server runs (`server.app.settle_runtime`): startup frozen, no automatic
    # collections inside the tick (the loop collects between ticks; here, between blocks).
    gc.collect()
    gc.freeze()
    gc.disable()
    for _ in range(a.warmup):
        one_tick(bots, time.time())
    if a.ticks == 0:  # setup only: the baseline of an instruction count (see the top)
        return
    best_w = best_v = best_f = math.inf
    frames_per_tick = bytes_per_tick = 0.0
    for _ in range(a.repeat):
        gc.collect()
        w = v = f = 0.0
        nframes = nbytes = 0
        for _ in range(a.ticks):
            dw, dv, frames = one_tick(bots, time.time())
            w += dw
            v += dv
            t = time.process_time()
            for fr in frames:
                binary_frame(fr)
            f += time.process_time() - t
            nframes += len(frames)
            nbytes += sum(map(len, frames))
        best_w = min(best_w, w / a.ticks)
        best_v = min(best_v, v / a.ticks)
        if nframes:
            best_f = min(best_f, f / nframes)
        frames_per_tick, bytes_per_tick = nframes / a.ticks, nbytes / a.ticks
    print(
        f"{a.players} players, {a.npcs} NPCs; {a.ticks} ticks x {a.repeat}, best block "
        f"(CPU time); {frames_per_tick:.0f} frames, {bytes_per_tick / 1000:.1f} kB a tick"
    )
    print(f"world step:     {best_w * 1e3:7.3f} ms/tick")
    print(f"view assembly:  {best_v * 1e3:7.3f} ms/tick")
    print(f"tick total:     {(best_w + best_v) * 1e3:7.3f} ms/tick")
    print(f"binary_frame:   {best_f * 1e6:7.3f} us/frame")


def digest(a: argparse.Namespace) -> None:
    """Every frame of a fixed scenario, hashed in outbox order."""
    bots = build(a.players, a.npcs, a.seed)
    st = bots.st
    h = hashlib.sha256()
    rng = random.Random(a.seed + 1)
    V = st.viewers
    n = 0
    for k in range(a.ticks):
        tick = st.world.tick + 1
        if k % 17 == 5:  # a long jump: whole cells come into and go out of view
            i = rng.randrange(len(bots.nids))
            bots.teleport(i, rng.uniform(-900, 900), rng.uniform(-900, 900))
        if k % 23 == 7:  # a client's socket fills: coalesced, then caught up
            V.paused[bots.clients[rng.randrange(len(bots.clients))].slot] = True
        if k % 23 == 15:
            V.paused[:] = False
        if k == a.ticks // 2:  # someone joins and someone leaves mid-run
            bots.join("late")
            gone = bots.clients[3].player
            assert gone is not None
            st.game.join.leave(gone, keep_for_resume=False)
        _, _, frames = one_tick(bots, 1000.0 + tick / 60)
        h.update(repr(bots.stats).encode())
        for fr in frames:
            h.update(len(fr).to_bytes(4, "big"))
            h.update(fr)
            h.update(binary_frame(fr))
        n += len(frames)
    print(f"{n} frames over {a.ticks} ticks: {h.hexdigest()}")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--players", type=int, default=1000)
    ap.add_argument("--npcs", type=int, default=10_000)
    ap.add_argument("--ticks", type=int, default=60)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--warmup", type=int, default=30)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--digest", action="store_true")
    ap.add_argument("--count", choices=("world", "views"))
    a = ap.parse_args()

    logging.disable(logging.WARNING)  # the game's slow-handler notes while 1,000 join

    async def run() -> None:
        # Joining and leaving start background tasks (storage, factions): they need a running
        # loop, though nothing here awaits them.
        (digest if a.digest else count if a.count else bench)(a)

    asyncio.run(run())


if __name__ == "__main__":
    main()
