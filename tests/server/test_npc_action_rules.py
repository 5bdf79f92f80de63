"""The NPC action rules that need no server: the sliding-window rate limit."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from server.game.npc_actions import _Window


@given(
    limit=st.integers(1, 6),
    window=st.floats(1.0, 120.0),
    gaps=st.lists(st.floats(0.0, 30.0), min_size=1, max_size=60),
)
@settings(max_examples=200, deadline=None)
def test_no_window_ever_holds_more_than_the_limit(
    limit: int, window: float, gaps: list[float]
) -> None:
    now = [0.0]
    w = _Window(limit, window, lambda: now[0])
    taken: list[float] = []
    for gap in gaps:
        now[0] += gap
        if not w.full("k"):
            w.add("k")
            taken.append(now[0])
        # Refused only when `limit` were taken in the last `window` seconds.
        recent = [t for t in taken if t > now[0] - window]
        assert len(recent) <= limit
        assert w.full("k") == (len(recent) >= limit)
    # Another key is not limited by this one.
    assert not w.full("other")
