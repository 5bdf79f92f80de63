"""Micro-benchmark of the server's receive path for client INPUT frames: not a test, no assertion.

    .venv/bin/python -m tests.server.bench_inputs [--players 1000] [--rounds 20] [--repeat 7]

Real `Connection`s (no sockets: a transport that swallows writes), each bound to a player in
the real game, are handed masked INPUT frames one per read, round robin, as a busy server reads
them: once straight through `data_received`, and once held while a tick is due and handed over
by `release_held`, which is how most inputs arrive at a loaded server. Every INPUT is accepted
(a short legal step, a newer ack). Prints the CPU cost of one INPUT in microseconds (best of
`--repeat`, process time, so other processes on a shared box count less).

`--once` runs one small pass of each, inside `functools.reduce`, for instruction counts of the
receive path alone (imports and joins are not counted):

    PYTHONHASHSEED=0 valgrind --tool=callgrind --callgrind-out-file=/dev/null \
        --collect-atstart=no --toggle-collect=functools_reduce \
        .venv/bin/python -m tests.server.bench_inputs --once
"""

from __future__ import annotations

import argparse
import functools
import logging
import math
import random
import time

from websockets.protocol import State
from websockets.utils import apply_mask

from protocol.catalogue import FrameType
from protocol.session import Phase
from protocol.state import INPUT
from server.net import wsadapter
from server.net.connection import Connection
from server.state import ServerState
from tests.server.game_fakes import make_state, place


class NullTransport:
    """What a Connection calls on its transport, doing nothing."""

    def write(self, data: bytes) -> None:
        pass

    def is_closing(self) -> bool:
        return False

    def get_write_buffer_size(self) -> int:
        return 0

    def close(self) -> None:
        pass

    def abort(self) -> None:
        pass

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass


def connect(st: ServerState, name: str) -> Connection:
    conn = Connection(st)
    conn.transport = NullTransport()  # type: ignore[assignment]
    conn.ws.state = State.OPEN
    wsadapter.drop_handshake_parser(conn.ws)
    conn.phase = Phase.JOINING
    place(st, name, client=conn)  # type: ignore[arg-type]
    assert conn.phase is Phase.PLAYING and conn.player is not None
    st.viewers.seq[conn.slot] = 1 << 30  # every ack below this names a sent frame
    return conn


MASKS = random.Random(1)  # the same masks every run: callgrind counts stay comparable


def frame(seq: int, ack: int, x: float, y: float) -> bytes:
    mask = MASKS.randbytes(4)
    payload = INPUT.pack(FrameType.INPUT, seq, ack, x, y, 0.0, 90.0)
    return b"\x82" + bytes([0x80 | INPUT.size]) + mask + apply_mask(payload, mask)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--players", type=int, default=1000)
    ap.add_argument("--rounds", type=int, default=20)
    ap.add_argument("--repeat", type=int, default=7)
    ap.add_argument("--once", action="store_true")
    a = ap.parse_args()
    if a.once:
        a.players, a.rounds, a.repeat = 200, 5, 1
    st = make_state(
        max_players=a.players,
        npc_count=0,
        spawn_area_size=1000.0,
        anticheat_kick_score=0,
        input_rate_limit=1_000_000,  # the rate check runs; its limit is never reached
    )
    # Joins start background loads (factions) that need a running loop: not this benchmark's.
    logging.disable(logging.CRITICAL)
    conns = [connect(st, f"p{i}") for i in range(a.players)]
    logging.disable(logging.NOTSET)
    seq = [0]

    def rows() -> list[list[bytes]]:
        """One INPUT per connection per round, 1 cm further east each round."""
        out = []
        start = [c.player.position for c in conns]  # type: ignore[union-attr]
        for r in range(a.rounds):
            seq[0] += 1
            out.append([frame(seq[0], seq[0], x + 0.01 * (r + 1), y) for x, y, _ in start])
        return out

    def feed(frames: list[list[bytes]], held: bool) -> None:
        for row in frames:
            for c, data in zip(conns, row, strict=True):
                c.data_received(data)
            if held:
                q = st.held
                while q:
                    q.popleft().release_held()

    def run(held: bool) -> float:
        best = math.inf
        for _ in range(a.repeat):
            frames = rows()
            accepted = st.inputs
            st.tick_due = -math.inf if held else math.inf
            t = time.process_time()
            if a.once:  # callgrind counts inside reduce only
                functools.reduce(lambda _a, _b: feed(frames, held), [None], None)
            else:
                feed(frames, held)
            best = min(best, time.process_time() - t)
            assert st.inputs - accepted == a.rounds * a.players, "an INPUT was not accepted"
        n: int = a.rounds * a.players
        return best / n

    direct = run(held=False)
    held = run(held=True)
    if a.once:
        return
    print(f"{a.players} connections x {a.rounds} INPUTs, best of {a.repeat} (CPU time)")
    print(f"INPUT via data_received:   {direct * 1e6:6.2f} us")
    print(f"INPUT held, release_held:  {held * 1e6:6.2f} us")
    print(f"20,000 INPUTs/s (held):    {held * 20_000 * 1e3:6.1f} ms of CPU each second")


if __name__ == "__main__":
    main()
