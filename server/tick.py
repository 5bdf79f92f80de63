"""The fixed-rate tick: simulate, then send the patches due this tick. Never awaits I/O.

Scheduling is by absolute deadlines (tick k is due at start + k/TICKRATE), so a slow tick does
not shift every later one. A tick that runs longer than its interval counts as an overrun; if
the loop falls more than a whole interval behind, the missed ticks are counted as overruns
and skipped rather than run back to back (which would only make the backlog worse).
"""

from __future__ import annotations

import asyncio
import logging
import time

from server.replication.view import ViewAssembler
from server.state import ServerState

log = logging.getLogger("ganggpt.tick")


class TickLoop:
    def __init__(self, state: ServerState) -> None:
        self.state = state
        cfg = state.config
        self.interval = 1.0 / cfg.tickrate
        self.assembler = ViewAssembler(
            state.world, cfg.ticks_per_patch, cfg.aoi_mid_every, cfg.aoi_far_every
        )
        self.running = False
        self.overruns = 0
        self.last_duration = 0.0

    def tick_once(self) -> None:
        st = self.state
        world = st.world
        server_time = time.time()
        world.step()
        viewers = list(st.viewers[world.tick % len(st.viewers)].values())
        if viewers:
            stats = self.assembler.run(viewers, server_time)
            m = st.metrics
            if stats.frames:
                m.frames_sent.inc(stats.frames)
                m.bytes_sent.inc(stats.bytes)
            if stats.full:
                m.full_snapshots.inc(stats.full)
            if stats.skipped:
                m.frames_skipped.inc(stats.skipped)
        st.last_tick_at = server_time

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        m = self.state.metrics
        interval = self.interval
        self.running = True
        deadline = loop.time()
        while self.running:
            delay = deadline - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            start = time.perf_counter()
            try:
                self.tick_once()
            except Exception:
                log.exception("tick %d failed", self.state.world.tick)
            took = time.perf_counter() - start
            self.last_duration = took
            m.tick_seconds.observe(took)
            m.ticks.inc()
            if took > interval:
                self.overruns += 1
                m.tick_overruns.inc()
            deadline += interval
            behind = loop.time() - deadline
            if behind > interval:
                missed = int(behind / interval)
                self.overruns += missed
                m.tick_overruns.inc(missed)
                deadline += missed * interval

    def stop(self) -> None:
        self.running = False
