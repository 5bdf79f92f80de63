"""Frames leave in seq order even when a tick comes before the last tick's frames are all
written (a late tick runs between two flush batches): found under load, where honest clients
saw seq 78 before 77 and the anti-cheat answered their acks with BAD_ACK."""

from __future__ import annotations

import asyncio

from server.tick import FLUSH_BATCH
from tests.server.conftest import ServerFactory


async def test_a_second_tick_waits_behind_the_frames_still_going_out(
    start: ServerFactory,
) -> None:
    srv = await start(npc_count=0)
    tick = srv.tick
    written: list[int] = []

    def send(frame: bytes) -> None:
        written.append(int.from_bytes(frame, "big"))

    first = [(send, i.to_bytes(4, "big")) for i in range(3 * FLUSH_BATCH)]
    second = [(send, i.to_bytes(4, "big")) for i in range(3 * FLUSH_BATCH, 4 * FLUSH_BATCH)]
    tick.send_frames(first)
    assert len(written) == FLUSH_BATCH  # one batch now, the rest on later loop turns
    tick.send_frames(second)  # the next tick's frames, before the first flush is done
    await asyncio.sleep(0)  # one turn of the loop: one more batch
    # Two ticks' frames pending: a batch of two, the pace of two flushes side by side.
    assert len(written) == 3 * FLUSH_BATCH
    loop = asyncio.get_running_loop()
    end = loop.time() + 10
    while len(written) < 4 * FLUSH_BATCH:
        assert loop.time() < end, "frames never written"
        await asyncio.sleep(0)
    assert written == list(range(4 * FLUSH_BATCH))
