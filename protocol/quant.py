"""Quantisation of positions and headings for STATE frames.

Positions travel as three unsigned 16-bit integers spread evenly over the world bounds the
server announces in `welcome`; headings as one byte. Both sides compute the same step from
the same bounds, so a client needs nothing but the welcome to decode positions.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

QMAX = 65535


@dataclass(frozen=True, slots=True)
class WorldBounds:
    """Axis-aligned world box in metres; also the quantisation range."""

    min_x: float
    min_y: float
    min_z: float
    max_x: float
    max_y: float
    max_z: float

    def contains(self, x: float, y: float, z: float) -> bool:
        return (
            self.min_x <= x <= self.max_x
            and self.min_y <= y <= self.max_y
            and self.min_z <= z <= self.max_z
        )

    def as_dict(self) -> dict[str, float]:
        return {
            "min_x": self.min_x,
            "min_y": self.min_y,
            "min_z": self.min_z,
            "max_x": self.max_x,
            "max_y": self.max_y,
            "max_z": self.max_z,
        }

    @classmethod
    def from_dict(cls, d: dict[str, float]) -> WorldBounds:
        return cls(
            float(d["min_x"]),
            float(d["min_y"]),
            float(d["min_z"]),
            float(d["max_x"]),
            float(d["max_y"]),
            float(d["max_z"]),
        )

    @property
    def step(self) -> tuple[float, float, float]:
        """Metres per quantum on each axis: (max - min) / 65535."""
        return (
            (self.max_x - self.min_x) / QMAX,
            (self.max_y - self.min_y) / QMAX,
            (self.max_z - self.min_z) / QMAX,
        )


def _q(v: float, lo: float, hi: float) -> int:
    if v <= lo:
        return 0
    if v >= hi:
        return QMAX
    return round((v - lo) * QMAX / (hi - lo))


def quantise_position(b: WorldBounds, x: float, y: float, z: float) -> tuple[int, int, int]:
    """World metres -> (qx, qy, qz); values outside the bounds clamp to the edge."""
    return (
        _q(x, b.min_x, b.max_x),
        _q(y, b.min_y, b.max_y),
        _q(z, b.min_z, b.max_z),
    )


def dequantise_position(b: WorldBounds, qx: int, qy: int, qz: int) -> tuple[float, float, float]:
    return (
        b.min_x + qx * (b.max_x - b.min_x) / QMAX,
        b.min_y + qy * (b.max_y - b.min_y) / QMAX,
        b.min_z + qz * (b.max_z - b.min_z) / QMAX,
    )


def quantise_heading(degrees: float) -> int:
    """Degrees (any value) -> 0..255, 256 steps per turn."""
    return round((degrees % 360.0) * 256.0 / 360.0) % 256


def dequantise_heading(q: int) -> float:
    return (q % 256) * 360.0 / 256.0


def heading_error(a: float, b: float) -> float:
    """Smallest angle between two headings in degrees (for tests and clients)."""
    d = abs((a - b) % 360.0)
    return min(d, 360.0 - d)


def speed_to_wire(mps: float) -> int:
    """m/s -> u8 in tenths of m/s (0..25.5 m/s)."""
    if not math.isfinite(mps) or mps <= 0:
        return 0
    return min(255, round(mps * 10))


def speed_from_wire(q: int) -> float:
    return q / 10.0
