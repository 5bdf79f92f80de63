"""Micro-benchmark of the per-INPUT movement checks (SPEC §11): not a test, no assertion.

    .venv/bin/python -m tests.server.bench_movement [--players 1000] [--rounds 100] [--repeat 7]

Players send INPUTs round robin, as a busy server reads them, into the real `Movement` with
fake clients. Prints the CPU cost (best of `--repeat`, process time, so other processes on a
shared box count less) of one accepted INPUT, one refused by the speed budget (error, `correct`,
score) and one with a forged ack, in microseconds; and what 30 accepted INPUTs a second from
every player cost of each second.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

from protocol.state import InputFrame
from tests.server.game_fakes import make_state, place

Rows = list[list[InputFrame]]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--players", type=int, default=1000)
    ap.add_argument("--rounds", type=int, default=100)
    ap.add_argument("--repeat", type=int, default=7)
    a = ap.parse_args()
    st = make_state(
        max_players=a.players, npc_count=0, spawn_area_size=1000.0, anticheat_kick_score=0
    )
    players = [place(st, f"p{i}")[0] for i in range(a.players)]
    mv = st.game.movement
    clock = [1000.0]
    mv.clock = mv.anticheat.clock = lambda: clock[0]
    for p in players:
        st.viewers.seq[p.client.slot] = 1 << 30  # every ack below this names a sent frame
    seq = [0]

    def rows(step: Callable[[int], float], ack: int) -> Rows:
        """`rounds` INPUTs per player, x moved by `step(round)` from where it stands now."""
        out = []
        for r in range(a.rounds):
            seq[0] += 1
            out.append(
                [
                    InputFrame(seq[0], ack, p.position[0] + step(r), p.position[1], 0.0, 0.0)
                    for p in players
                ]
            )
        return out

    def run(make: Callable[[], Rows]) -> float:
        best = float("inf")
        for _ in range(a.repeat):
            frames = make()
            for p in players:
                mv.start(p)
            t = time.process_time()
            for row in frames:
                clock[0] += 1 / 30  # a round is one client frame interval
                for p, inp in zip(players, row, strict=True):
                    mv.on_input(p, inp)
            best = min(best, time.process_time() - t)
            for p in players:  # what the fake clients recorded is no part of the cost
                p.client.sent.clear()  # type: ignore[attr-defined]
                p.client.failures.clear()  # type: ignore[attr-defined]
        return best / (a.rounds * a.players)

    ok = run(lambda: rows(lambda r: 0.5 * (r + 1), 0))  # 15 m/s: all accepted
    bad = run(lambda: rows(lambda r: 100.0, 0))  # 100 m at once: all refused
    forged = run(lambda: rows(lambda r: 0.0, 1 << 31))  # an ack never sent
    print(f"{a.players} players x {a.rounds} INPUTs, best of {a.repeat} (CPU time)")
    print(f"accepted INPUT:            {ok * 1e6:6.2f} us")
    print(f"refused (speed, correct):  {bad * 1e6:6.2f} us")
    print(f"forged ack (error):        {forged * 1e6:6.2f} us")
    print(f"30,000 accepted INPUTs/s:  {ok * 30_000 * 1e3:6.1f} ms of CPU each second")


if __name__ == "__main__":
    main()
