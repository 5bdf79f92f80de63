"""The grid's vectorised and cached answers agree with its plain per-cell definitions.

The tick uses table lookups and cached stencil differences (server/world/grid.py) and a
per-cell count table for MOVE runs (server/replication/delta.py); each is checked here against
the one-cell-at-a-time rule it stands for, on grids of several shapes, edges included."""

from __future__ import annotations

import numpy as np
import pytest

from protocol.quant import WorldBounds
from protocol.state import MOVE_DTYPE
from server.replication.delta import MoveBuffer
from server.world.commands import DespawnNpc, Follow, SpawnNpc, StopAndFace, Teleport, WalkTo
from server.world.grid import Grid
from tests.server.game_fakes import make_state

SHAPES = [
    # (width, height, cell, radius, near, mid)
    (8000.0, 8000.0, 50.0, 300.0, 75.0, 200.0),  # the default city
    (1000.0, 700.0, 50.0, 300.0, 75.0, 200.0),
    (500.0, 350.0, 37.0, 120.0, 0.0, 60.0),  # cell size not a divisor of anything
    (100.0, 80.0, 50.0, 300.0, 75.0, 200.0),  # narrower than the view
    (40.0, 40.0, 50.0, 300.0, 75.0, 200.0),  # a single cell
]


def grid(shape: tuple[float, ...]) -> Grid:
    w, h, cell, radius, near, mid = shape
    return Grid(WorldBounds(-w / 2, -h / 3, -10.0, w / 2, 2 * h / 3, 10.0), cell, radius, near, mid)


@pytest.fixture(params=SHAPES, ids=lambda s: f"{s[0]:g}x{s[1]:g}/{s[2]:g}")
def g(request: pytest.FixtureRequest) -> Grid:
    return grid(request.param)


@pytest.mark.parametrize("origin", [0.0, -2000.0])
@pytest.mark.parametrize("cell", [50.0, 37.0, 3.3, 0.1])
def test_cells_of_is_cell_of_everywhere_even_on_cell_borders(origin: float, cell: float) -> None:
    b = WorldBounds(origin, origin, -10.0, origin + 500 * cell, origin + 400 * cell, 10.0)
    g = Grid(b, cell, 6 * cell, 2 * cell, 4 * cell)
    rng = np.random.default_rng(1)
    # Cell borders and their float neighbours, where a plain floor of the quotient can round
    # the other way (with a zero origin, x is the offset itself), outside the world, random.
    borders = b.min_x + np.arange(-2, g.cols + 3) * cell
    xs = np.concatenate(
        [
            borders,
            np.nextafter(borders, -np.inf),
            np.nextafter(borders, np.inf),
            rng.uniform(b.min_x - 100, b.max_x + 100, 2000),
        ]
    )
    ys = rng.permutation(xs)
    got = g.cells_of(xs, ys)
    assert got.dtype == np.int32
    assert got.tolist() == [g.cell_of(x, y) for x, y in zip(xs.tolist(), ys.tolist(), strict=True)]


def test_sees_many_is_sees_for_every_pair(g: Grid) -> None:
    rng = np.random.default_rng(2)
    viewers = np.concatenate([[-1, 0, g.n_cells - 1], rng.integers(-1, g.n_cells, 200)])
    cells = np.concatenate([[-1, 0, g.n_cells - 1], rng.integers(-1, g.n_cells, 60)])
    for dtype in (np.int32, np.int64):
        m = g.sees_many(viewers.astype(dtype), cells.astype(np.int32))
        want = [[g.sees(int(v), int(c)) for c in cells] for v in viewers]
        assert m.tolist() == want


def test_view_change_is_the_difference_of_the_two_views(g: Grid) -> None:
    rng = np.random.default_rng(3)

    def view(c: int) -> set[int]:
        return set(g.view_cells(c)) if c >= 0 else set()

    for _ in range(1500):
        old = int(rng.integers(-1, g.n_cells))
        if old >= 0 and rng.random() < 0.8:  # mostly a step to a nearby cell, as players walk
            new = old + int(rng.integers(-2, 3)) + g.cols * int(rng.integers(-2, 3))
            new = min(max(new, -1), g.n_cells - 1)
        else:
            new = int(rng.integers(-1, g.n_cells))
        came, went = g.view_change(old, new)
        assert came == sorted(view(new) - view(old)), (old, new)
        assert went == sorted(view(old) - view(new)), (old, new)


def test_span_keys_cover_exactly_the_cells_of_the_due_tiers(g: Grid) -> None:
    k = g.reach
    viewers = np.arange(g.n_cells, dtype=np.int32)
    for due in (1, 2, 3):
        lo, hi = g.span_keys(viewers, due)
        for v in viewers.tolist()[:: max(1, g.n_cells // 300)]:
            got = [
                c
                for a, b in zip(lo[v].tolist(), hi[v].tolist(), strict=True)
                for c in range(a, b + 1)
            ]
            want = []
            for c in g.view_cells(v):
                dx, dy = c % g.cols - v % g.cols, c // g.cols - v // g.cols
                if g.tiers[dy + k, dx + k] < due:
                    want.append(c)
            assert sorted(got) == want and len(got) == len(set(got)), (v, due)


@pytest.mark.parametrize("spread", [False, True], ids=["clustered", "spread"])
def test_move_sections_hold_the_records_of_each_run_in_cell_order(spread: bool) -> None:
    # Spread over the whole world the count table would be too large: binary searches then.
    st = make_state(npc_count=0, max_players=400)
    w = st.world
    rng = np.random.default_rng(4)
    b = w.bounds
    half = (b.max_x - b.min_x) / 2 if spread else 150.0
    for i in range(300):
        x, y = rng.uniform(-half, half, 2).tolist()
        w.spawn_player(w.net_ids.allocate(w.tick), f"p{i}", x, y, 0.0, 0.0)
    w.step()
    buf = MoveBuffer.build(w, 8)
    assert (buf.below is None) == spread
    viewers = np.concatenate([rng.integers(0, w.grid.n_cells, 40), w.cell[w.players.ids[:40]]])
    lo, hi = w.grid.span_keys(viewers.astype(np.int32), 3)
    moves, offsets = buf.gather(lo, hi)
    rec = np.frombuffer(buf.records.tobytes(), dtype=MOVE_DTYPE)
    ids = w.players.ids
    for v in range(viewers.size):
        want = b"".join(
            rec[buf.keys == c].tobytes()
            for a, z in zip(lo[v].tolist(), hi[v].tolist(), strict=True)
            for c in range(a, z + 1)
        )
        assert moves[offsets[v] : offsets[v + 1]].tobytes() == want
    # Every record is one of a player in the window, in its own cell.
    assert sorted(rec["id"].tolist()) == sorted(ids.tolist())
    assert buf.keys.tolist() == sorted(w.cell[rec["id"]].tolist())
    assert len(moves) % MOVE_DTYPE.itemsize == 0


def test_npc_cells_stay_those_of_their_positions_whatever_they_are_told() -> None:
    # Crossings are what keeps `World.cell` (and so every view) right: after every tick each
    # live NPC's cell must be the one its position is in, through walks at all speeds,
    # follows, stops, teleports, spawns and despawns, on a grid small enough that cells are
    # crossed all the time.
    st = make_state(
        npc_count=400,
        spawn_area_size=300.0,
        aoi_cell_size=20.0,
        npc_spawn_capacity=50,
        npc_command_queue_size=1000,
        npc_commands_per_tick=1000,
    )
    w = st.world
    rng = np.random.default_rng(5)
    spawned: list[int] = []

    def anywhere() -> tuple[float, float]:
        x, y = rng.uniform(-200.0, 200.0, 2).tolist()
        return x, y

    for _ in range(900):
        for _ in range(int(rng.integers(0, 4))):
            nid = int(rng.integers(1, 1 + w.npcs.n))
            if w.npc_slot(nid) is None:
                continue
            kind = rng.integers(0, 6)
            if kind == 0:
                w.submit(WalkTo(nid, *anywhere(), speed=float(rng.choice([0.5, 2.0, 25.0]))))
            elif kind == 1:
                w.submit(Teleport(nid, *anywhere(), 0.0))
            elif kind == 2:
                w.submit(Follow(nid, int(rng.integers(1, 1 + w.npcs.n)), speed=12.0))
            elif kind == 3:
                w.submit(StopAndFace(nid))
            elif kind == 4 and len(spawned) < 40:
                got = w.spawn(SpawnNpc(*anywhere(), wander=bool(rng.integers(0, 2))))
                if got is not None:
                    spawned.append(got)
            elif kind == 5 and spawned:
                w.submit(DespawnNpc(spawned.pop(int(rng.integers(0, len(spawned))))))
        w.step()
        live = np.flatnonzero(w.npcs.alive)
        cells = w.grid.cells_of(w.npcs.x[live], w.npcs.y[live])
        assert (w.cell[w.npcs.first_id + live] == cells).all(), w.tick
