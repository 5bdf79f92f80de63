"""NPC paths: monotone progress, exact arrival, heading convention."""

from __future__ import annotations

import math

from hypothesis import given, settings
from hypothesis import strategies as st

from protocol.quant import WorldBounds, dequantise_position, heading_error
from protocol.state import NpcPath
from tests.protocol.strategies import bounds, paths

EXAMPLES = settings(max_examples=80, deadline=None)
tick_rates = st.sampled_from([20, 30, 60, 64, 120, 240])
WORLD = WorldBounds(-4000, -4000, -200, 4000, 4000, 1800)


def _ends(p: NpcPath, b: WorldBounds) -> tuple[float, float, float, float, float]:
    sx, sy, sz = dequantise_position(b, p.qx, p.qy, p.qz)
    ex, ey, _ = dequantise_position(b, p.wx, p.wy, 0)
    return sx, sy, sz, ex, ey


def _arrival(p: NpcPath, rate: int, b: WorldBounds) -> float:
    sx, sy, _, ex, ey = _ends(p, b)
    return p.start_tick + math.hypot(ex - sx, ey - sy) * rate / (p.speed / 10.0)


@EXAMPLES
@given(paths, tick_rates, bounds(), st.lists(st.floats(-100.0, 2e6), min_size=2, max_size=12))
def test_progress_is_monotone(p: NpcPath, rate: int, b: WorldBounds, offsets: list[float]) -> None:
    sx, sy, sz, ex, ey = _ends(p, b)
    prev: tuple[float, float, float] | None = None
    for t in sorted(p.start_tick + o for o in offsets):
        x, y, z = p.position_at(t, rate, b)
        assert z == sz
        assert min(sx, ex) <= x <= max(sx, ex) and min(sy, ey) <= y <= max(sy, ey)
        if prev is not None:
            # every coordinate moves only towards the waypoint
            assert (x - prev[0]) * (ex - sx) >= 0 and (y - prev[1]) * (ey - sy) >= 0
        prev = (x, y, z)


@EXAMPLES
@given(paths, tick_rates, bounds(), st.floats(0.0, 1e5))
def test_reaches_waypoint_exactly_and_stays(
    p: NpcPath, rate: int, b: WorldBounds, extra: float
) -> None:
    sx, sy, sz, ex, ey = _ends(p, b)
    if p.speed == 0:
        assert p.position_at(p.start_tick + extra, rate, b) == (sx, sy, sz)
        return
    arrive = math.ceil(_arrival(p, rate, b)) + 1
    assert p.position_at(arrive, rate, b) == (ex, ey, sz)
    assert p.position_at(arrive + extra, rate, b) == (ex, ey, sz)


@EXAMPLES
@given(paths, tick_rates, bounds(), st.floats(0.0, 1e6))
def test_waits_at_start_before_start_tick(
    p: NpcPath, rate: int, b: WorldBounds, early: float
) -> None:
    sx, sy, sz, _, _ = _ends(p, b)
    assert p.position_at(p.start_tick - early, rate, b) == (sx, sy, sz)


@EXAMPLES
@given(paths, tick_rates, st.floats(0.0, 1.0))
def test_speed_is_respected(p: NpcPath, rate: int, frac: float) -> None:
    sx, sy, _, ex, ey = _ends(p, WORLD)
    dist = math.hypot(ex - sx, ey - sy)
    if p.speed == 0 or dist == 0:
        return
    t = p.start_tick + frac * (_arrival(p, rate, WORLD) - p.start_tick)
    x, y, _ = p.position_at(t, rate, WORLD)
    travelled = math.hypot(x - sx, y - sy)
    expected = min(dist, (p.speed / 10.0) * (t - p.start_tick) / rate)
    assert abs(travelled - expected) <= 1e-6 * max(1.0, dist)


@EXAMPLES
@given(paths)
def test_heading_points_along_the_path(p: NpcPath) -> None:
    sx, sy, _, ex, ey = _ends(p, WORLD)
    h = p.heading(WORLD)
    assert 0.0 <= h < 360.0
    if (ex, ey) == (sx, sy):
        return
    # GTA convention: 0 = +y, counter-clockwise; a unit step along heading h is (-sin h, cos h)
    d = math.hypot(ex - sx, ey - sy)
    ux, uy = -math.sin(math.radians(h)), math.cos(math.radians(h))
    assert abs(ux - (ex - sx) / d) < 1e-9 and abs(uy - (ey - sy) / d) < 1e-9


def test_cardinal_headings() -> None:
    def h(dx: float, dy: float) -> float:
        from protocol.quant import quantise_position

        qx, qy, qz = quantise_position(WORLD, 0, 0, 0)
        wx, wy, _ = quantise_position(WORLD, dx, dy, 0)
        return NpcPath(qx, qy, qz, wx, wy, 20, 0).heading(WORLD)

    assert heading_error(h(0, 100), 0) < 1e-9
    assert heading_error(h(-100, 0), 90) < 1e-9
    assert heading_error(h(0, -100), 180) < 1e-9
    assert heading_error(h(100, 0), 270) < 1e-9


def test_formula_by_hand() -> None:
    b = WorldBounds(0, 0, 0, 65535, 65535, 65535)  # one metre per step
    p = NpcPath(0, 0, 7, 30, 40, 25, 100)  # 50 m at 2.5 m/s from tick 100
    assert p.position_at(100, 10, b) == (0.0, 0.0, 7.0)
    assert p.position_at(140, 10, b) == (6.0, 8.0, 7.0)  # 4 s -> 10 m
    assert p.position_at(300, 10, b) == (30.0, 40.0, 7.0)  # 20 s -> 50 m: arrived
    assert p.position_at(299, 10, b) != (30.0, 40.0, 7.0)
