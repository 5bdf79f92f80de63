"""The event bus: inline subscribers isolated and timed, bounded workers with overflow policies."""

from __future__ import annotations

import asyncio

import pytest

from server.game.events import ChatSaid, CustomEvent, EventBus, HandlerTimer, Overflow
from server.metrics import Metrics


def _bus(budget: float = 0.002) -> tuple[EventBus, Metrics]:
    m = Metrics()
    return EventBus(m, HandlerTimer(m, budget)), m


def _v(m: Metrics, name: str, **labels: str) -> float:
    return m.registry.get_sample_value(name, labels) or 0.0


def test_a_failing_subscriber_does_not_stop_the_others() -> None:
    bus, m = _bus()
    got: list[str] = []

    def bad(ev: CustomEvent) -> None:
        raise ValueError("boom")

    bus.subscribe(CustomEvent, bad, name="bad")
    bus.subscribe(CustomEvent, lambda ev: got.append(ev.type), name="good")
    bus.publish(CustomEvent("a.b", {}))
    assert got == ["a.b"]
    assert _v(m, "ganggpt_game_handler_errors_total", handler="event:CustomEvent:bad") == 1
    assert _v(m, "ganggpt_events_published_total", type="CustomEvent") == 1


def test_unsubscribe_and_types_are_separate() -> None:
    bus, _ = _bus()
    got: list[object] = []
    off = bus.subscribe(CustomEvent, got.append)
    bus.publish(ChatSaid.__new__(ChatSaid))  # another type: not delivered
    off()
    bus.publish(CustomEvent("a.b", {}))
    assert got == []


@pytest.mark.parametrize(
    ("overflow", "kept"),
    [(Overflow.DROP_OLDEST, ["e.3", "e.4"]), (Overflow.DROP_NEWEST, ["e.0", "e.1"])],
)
async def test_worker_queue_is_bounded_by_its_overflow_policy(
    overflow: Overflow, kept: list[str]
) -> None:
    bus, m = _bus()
    seen: list[str] = []

    async def slow(ev: CustomEvent) -> None:
        seen.append(ev.type)

    bus.worker("w", (CustomEvent,), slow, maxsize=2, overflow=overflow)
    for i in range(5):  # published before the worker task runs: the queue fills
        bus.publish(CustomEvent(f"e.{i}", {}))
    assert _v(m, "ganggpt_event_queue_depth", worker="w") == 2
    assert _v(m, "ganggpt_events_dropped_total", worker="w") == 3
    bus.start()
    loop = asyncio.get_running_loop()
    end = loop.time() + 5
    while len(seen) < 2 and loop.time() < end:
        await asyncio.sleep(0.01)
    assert seen == kept
    assert _v(m, "ganggpt_event_queue_depth", worker="w") == 0
    assert _v(m, "ganggpt_game_handler_seconds_count", handler="worker:w") == 2
    await bus.stop()


async def test_a_failing_worker_keeps_working() -> None:
    bus, m = _bus()
    seen: list[str] = []

    async def flaky(ev: CustomEvent) -> None:
        if ev.type == "e.bad":
            raise RuntimeError("x")
        seen.append(ev.type)

    bus.worker("flaky", (CustomEvent,), flaky)
    bus.start()
    bus.publish(CustomEvent("e.bad", {}))
    bus.publish(CustomEvent("e.good", {}))
    loop = asyncio.get_running_loop()
    end = loop.time() + 5
    while not seen and loop.time() < end:
        await asyncio.sleep(0.01)
    assert seen == ["e.good"]
    assert _v(m, "ganggpt_game_handler_errors_total", handler="worker:flaky") == 1
    await bus.stop()
