"""`PlayerRequests`: a player's storage requests run one at a time in the order sent, a short
queue of them at most; other players are not held up; a failing one does not stop the next."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from server.game.requests import PlayerRequests


async def until(cond: Callable[[], bool]) -> None:
    while not cond():
        await asyncio.sleep(0.01)


async def test_in_order_one_at_a_time_bounded_per_player() -> None:
    reqs = PlayerRequests("test", pending=3)
    gate = asyncio.Event()
    ran: list[str] = []
    running = 0
    most = 0

    def work(tag: str, fail: bool = False) -> Callable[[], Awaitable[None]]:
        async def go() -> None:
            nonlocal running, most
            running += 1
            most = max(most, running)
            try:
                await gate.wait()
                ran.append(tag)
                if fail:
                    raise RuntimeError("storage down")
            finally:
                running -= 1

        return go

    assert reqs.run("ana", work("a1", fail=True))
    assert reqs.run("ana", work("a2"))
    assert reqs.run("ana", work("a3"))
    assert reqs.busy("ana") and not reqs.run("ana", work("a4"))  # the queue is full
    assert reqs.run("bob", work("b1"))  # another player's slot
    await asyncio.sleep(0)
    assert running == 2  # ana's first and bob's, not ana's later ones
    gate.set()
    await asyncio.wait_for(until(lambda: len(ran) == 4), 10)
    assert [t for t in ran if t.startswith("a")] == ["a1", "a2", "a3"]
    assert "b1" in ran and "a4" not in ran
    await asyncio.sleep(0)
    assert not reqs.busy("ana") and reqs.run("ana", work("a5"))
    await asyncio.wait_for(until(lambda: "a5" in ran), 10)
    await reqs.stop()


async def test_stop_cancels_what_waits() -> None:
    reqs = PlayerRequests("test")
    never = asyncio.Event()

    async def hang() -> None:
        await never.wait()

    assert reqs.run("ana", hang) and reqs.run("ana", hang)
    await reqs.stop()
    assert not reqs.busy("ana") and reqs.run("ana", hang)
    await reqs.stop()
