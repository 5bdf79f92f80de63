"""Quantisation: positions within half a step, headings within half a step, speeds."""

from __future__ import annotations

import math

from hypothesis import assume, given, settings
from hypothesis import strategies as st

from protocol.quant import (
    QMAX,
    WorldBounds,
    dequantise_heading,
    dequantise_position,
    heading_error,
    quantise_heading,
    quantise_position,
    speed_from_wire,
    speed_to_wire,
)
from tests.protocol.strategies import bounds

EXAMPLES = settings(max_examples=120, deadline=None)
unit = st.floats(0.0, 1.0)


def _inside(b: WorldBounds, fx: float, fy: float, fz: float) -> tuple[float, float, float]:
    return (
        b.min_x + fx * (b.max_x - b.min_x),
        b.min_y + fy * (b.max_y - b.min_y),
        b.min_z + fz * (b.max_z - b.min_z),
    )


@EXAMPLES
@given(bounds(), unit, unit, unit)
def test_position_within_half_a_step(b: WorldBounds, fx: float, fy: float, fz: float) -> None:
    x, y, z = _inside(b, fx, fy, fz)
    q = quantise_position(b, x, y, z)
    assert all(0 <= v <= QMAX and isinstance(v, int) for v in q)
    back = dequantise_position(b, *q)
    lo = (b.min_x, b.min_y, b.min_z)
    for orig, got, step, m in zip((x, y, z), back, b.step, lo, strict=True):
        slack = 1e-9 * (abs(m) + QMAX * step)  # double rounding in the two formulas
        assert abs(got - orig) <= step / 2 + slack


@EXAMPLES
@given(bounds(), st.integers(0, QMAX), st.integers(0, QMAX), st.integers(0, QMAX))
def test_dequantise_then_quantise_is_identity(b: WorldBounds, qx: int, qy: int, qz: int) -> None:
    assert quantise_position(b, *dequantise_position(b, qx, qy, qz)) == (qx, qy, qz)


@EXAMPLES
@given(bounds(), st.floats(-1e6, 1e6), st.floats(-1e6, 1e6))
def test_quantise_is_monotone_and_clamps(b: WorldBounds, a: float, c: float) -> None:
    lo, hi = min(a, c), max(a, c)
    q_lo, q_hi = quantise_position(b, lo, lo, lo), quantise_position(b, hi, hi, hi)
    assert all(p <= q for p, q in zip(q_lo, q_hi, strict=True))
    for v in (lo, hi):
        qx, _, _ = quantise_position(b, v, 0, 0)
        if v <= b.min_x:
            assert qx == 0
        if v >= b.max_x:
            assert qx == QMAX


def test_corners() -> None:
    b = WorldBounds(-4000, -4000, -200, 4000, 4000, 1800)
    assert quantise_position(b, -4000, -4000, -200) == (0, 0, 0)
    assert quantise_position(b, 4000, 4000, 1800) == (QMAX, QMAX, QMAX)
    assert dequantise_position(b, QMAX, QMAX, QMAX) == (4000.0, 4000.0, 1800.0)
    assert dequantise_position(b, 0, 0, 0) == (-4000.0, -4000.0, -200.0)
    assert quantise_position(b, 0.0, 0.0, 0.0) == (32768, 32768, 6554)  # half to even


@settings(max_examples=200, deadline=None)
@given(st.floats(-1e7, 1e7))
def test_heading_within_half_a_step(deg: float) -> None:
    q = quantise_heading(deg)
    assert 0 <= q <= 255
    assert heading_error(deg, dequantise_heading(q)) <= 360 / 512 + 1e-9


@given(st.integers(0, 255))
def test_heading_steps_are_exact(q: int) -> None:
    assert quantise_heading(dequantise_heading(q)) == q
    assert dequantise_heading(q) == q * 360 / 256


def test_heading_fixed_points() -> None:
    assert [quantise_heading(d) for d in (0, 90, 180, 270, 360, -90, 359.5)] == [
        0,
        64,
        128,
        192,
        0,
        192,
        0,
    ]


def test_heading_error_symmetry() -> None:
    assert heading_error(359, 1) == 2
    assert heading_error(1, 359) == 2
    assert heading_error(0, 180) == 180


@given(st.floats(0, 25.5))
def test_speed_within_half_a_tenth(mps: float) -> None:
    q = speed_to_wire(mps)
    assert 0 <= q <= 255
    assert abs(speed_from_wire(q) - mps) <= 0.05 + 1e-9


def test_speed_edges() -> None:
    assert speed_to_wire(30.0) == 255
    assert speed_to_wire(-2.0) == 0
    assert speed_to_wire(math.nan) == 0
    assert speed_to_wire(math.inf) == 0
    assert speed_from_wire(20) == 2.0


@given(bounds())
def test_bounds_dict_round_trip(b: WorldBounds) -> None:
    assume(b.max_x > b.min_x)
    assert WorldBounds.from_dict(b.as_dict()) == b
