"""The sliding window: counts within the window, frees as events age, bounded keys."""

from __future__ import annotations

from server.auth.throttle import SlidingWindow
from tests.auth.conftest import Clock


def test_allows_limit_events_then_waits_for_the_oldest_to_age() -> None:
    clock = Clock(0)
    w = SlidingWindow(3, 10, clock=clock)
    for t in (0, 2, 4):
        clock.now = t
        assert w.retry_after("k") == 0
        w.hit("k")
    assert w.retry_after("k") == 6  # the event at t=0 leaves the window at t=10
    clock.now = 10
    assert w.retry_after("k") == 0
    w.hit("k")
    assert w.retry_after("k") == 2
    assert w.retry_after("other") == 0


def test_keys_are_bounded_and_reset_forgets() -> None:
    clock = Clock(0)
    w = SlidingWindow(1, 100, max_keys=3, clock=clock)
    for k in "abcd":
        w.hit(k)
    assert len(w) == 3 and w.retry_after("a") == 0  # the oldest key was dropped
    assert w.retry_after("d") > 0
    w.reset("d")
    assert w.retry_after("d") == 0


def test_aged_keys_are_dropped() -> None:
    clock = Clock(0)
    w = SlidingWindow(2, 5, clock=clock)
    w.hit("a")
    clock.now = 6
    assert w.retry_after("a") == 0 and len(w) == 0
