"""The fixed-rate tick: simulate, assemble the patches due this tick, then flush them.

The tick never awaits and never touches a socket: it computes the world and the due clients'
frames (`tick_once`, the time in `ganggpt_tick_duration_seconds`); `flush` then writes them in
batches between which the loop reads inputs (`ganggpt_flush_duration_seconds`).

Scheduling is by absolute deadlines (tick k is due at start + k/TICKRATE), so a slow tick does
not shift every later one. A tick that runs longer than its interval counts as an overrun; if
the loop falls more than a whole interval behind, the missed ticks are counted as overruns
and skipped rather than run back to back (which would only make the backlog worse).
"""

from __future__ import annotations

import asyncio
import gc
import logging
import math
import time
from collections import deque

from server.replication.view import Send, ViewAssembler
from server.state import ServerState

log = logging.getLogger("ganggpt.tick")
FLUSH_BATCH = 64  # ~0.8 ms of writes: a due tick never waits behind more than one batch
GEN0_AT = 5000  # allocations (net) before a young collection
GEN1_EVERY = 10  # young collections per middle-generation collection
FULL_GC_SECONDS = 30.0
# A full collection costs ~16 us per player who joined since the last one (their objects are
# not frozen yet): after this many joins it runs early, so a join wave of 10,000 players is
# frozen in ~8 ms steps instead of one 100 ms pause.
FULL_GC_JOINS = 500
HELD_BATCH_SECONDS = 0.002  # held input handled per loop turn after a tick


class TickLoop:
    def __init__(self, state: ServerState) -> None:
        self.state = state
        cfg = state.config
        self.interval = 1.0 / cfg.tickrate
        self.assembler = ViewAssembler(
            state.world,
            state.viewers,
            cfg.ticks_per_patch,
            cfg.aoi_mid_every,
            cfg.aoi_far_every,
            heartbeat_ticks=round(cfg.idle_patch_interval * cfg.tickrate),
        )
        self.tpp = cfg.ticks_per_patch
        self.gc_after_tick = False  # set by `server.app.settle_runtime` for real servers
        self.last_full_gc = time.monotonic()
        self.running = False
        self._stopped: asyncio.Future[None] | None = None
        self._handle: asyncio.TimerHandle | None = None
        self._deadline = 0.0
        self._flush_end = 0.0  # perf_counter when the last flush batch ended
        self._flush_left = 0  # frames still waiting in the current flush
        # The outbox still being written, if a flush is in progress: a tick that comes before
        # it is done appends its frames to it, so every client gets its frames in seq order.
        self._flushing: list[tuple[Send, bytes]] | None = None
        # Where each tick's frames end in it: each batch writes FLUSH_BATCH per tick still
        # unfinished, the pace of one flush per tick side by side, kept in order.
        self._bounds: deque[int] = deque()

    def tick_once(self) -> list[tuple[Send, bytes]]:
        """Simulate one tick and assemble the frames due; returns them for `flush`."""
        st = self.state
        world = st.world
        server_time = time.time()
        cpu0 = time.thread_time()
        t0 = time.perf_counter()
        log_ = world.step()
        if log_.teleports:
            self.teleported(log_.teleports)
        t1 = time.perf_counter()
        outbox: list[tuple[Send, bytes]] = []
        slots = st.viewers.due(world.tick % self.tpp)
        if slots.size:
            self.assembler.outbox = outbox
            stats = self.assembler.run(slots, server_time)
            t2 = time.perf_counter()
            if t2 - t0 > self.interval:
                # Say where a long tick went, so an overrun can be explained from the log. CPU
                # time far below wall time means the thread was not running: descheduled by
                # the OS, or waiting for the GIL held by another thread.
                log.warning(
                    "slow tick %d: %.1f ms, %.1f ms on CPU (world %.1f ms, %d crossings, "
                    "%d new paths; views %.1f ms: %d clients, %d frames, %d full, %d coalesced, "
                    "%d groups)",
                    world.tick,
                    1000 * (t2 - t0),
                    1000 * (time.thread_time() - cpu0),
                    1000 * (t1 - t0),
                    log_.cross_ids.size,
                    log_.path_ids.size,
                    1000 * (t2 - t1),
                    slots.size,
                    stats.frames,
                    stats.full,
                    stats.skipped,
                    stats.groups,
                )
            m = st.metrics
            if stats.frames:
                m.frames_sent.inc(stats.frames)
                m.bytes_sent.inc(stats.bytes)
            if stats.full:
                m.full_snapshots.inc(stats.full)
            if stats.skipped:
                m.frames_skipped.inc(stats.skipped)
            if stats.empty:
                m.frames_empty.inc(stats.empty)
        st.last_tick_at = server_time
        return outbox

    def teleported(self, nids: list[int]) -> None:
        """Players moved by a Teleport command: the game tells them and judges their next
        inputs from there (`Game.teleported`)."""
        self.state.game.teleported(nids)

    def flush(self, outbox: list[tuple[Send, bytes]], start: int = 0, spent: float = 0.0) -> None:
        """Write assembled frames, FLUSH_BATCH at a time, yielding to the loop in between so
        inputs keep being read while hundreds of frames go out."""
        t0 = time.perf_counter()
        bounds = self._bounds
        while bounds and bounds[0] <= start:
            bounds.popleft()
        end = min(len(outbox), start + FLUSH_BATCH * max(1, len(bounds)))
        for i in range(start, end):
            send, frame = outbox[i]
            send(frame)
        self._flush_end = time.perf_counter()
        spent += self._flush_end - t0
        self._flush_left = len(outbox) - end
        if end < len(outbox):
            asyncio.get_running_loop().call_soon(self.flush, outbox, end, spent)
        else:
            self._flushing = None
            self.state.metrics.flush_seconds.observe(spent)

    def send_frames(self, outbox: list[tuple[Send, bytes]]) -> None:
        """Start writing a tick's frames, or queue them behind the frames of an earlier tick
        still going out (a late tick runs between two flush batches): written first, the new
        frames would reach a client before older ones, with lower seqs (SPEC §9.2)."""
        if self._flushing is not None:
            self._flushing.extend(outbox)
            self._bounds.append(len(self._flushing))
            self._flush_left += len(outbox)
            return
        self._flushing = outbox
        self._bounds.clear()
        self._bounds.append(len(outbox))
        self.flush(outbox)

    async def run(self) -> None:
        """Tick until `stop()`. Each tick is a timer callback (`call_at`), not a coroutine
        woken by `sleep`: a woken coroutine only gets scheduled, and runs after the next poll
        of every socket (a burst of 1,000 inputs is ~5 ms); a timer callback runs first."""
        loop = asyncio.get_running_loop()
        self.running = True
        self._stopped = loop.create_future()
        self._deadline = loop.time()
        self._handle = loop.call_at(self._deadline, self._on_timer)
        try:
            await self._stopped
        finally:
            self.running = False
            if self._handle is not None:
                self._handle.cancel()

    def _on_timer(self) -> None:
        if not self.running:
            return
        loop = asyncio.get_running_loop()
        m = self.state.metrics
        interval = self.interval
        lag = loop.time() - self._deadline
        m.tick_lag_seconds.observe(max(0.0, lag))
        if lag > interval:
            # A late start is an overrun the tick's own duration cannot explain: log it, and
            # what the collector and the flush were doing, so the cause can be found.
            log.warning(
                "late tick %d: started %.1f ms late (last flush %.1f ms ago, %d frames queued)",
                self.state.world.tick,
                1000 * lag,
                1000 * (time.perf_counter() - self._flush_end),
                self._flush_left,
            )
        start = time.perf_counter()
        outbox: list[tuple[Send, bytes]] = []
        try:
            outbox = self.tick_once()
        except Exception:
            log.exception("tick %d failed", self.state.world.tick)
        took = time.perf_counter() - start
        if outbox:
            self.send_frames(outbox)
        m.tick_seconds.observe(took)
        m.ticks.inc()
        if took > interval:
            m.tick_overruns.inc()
        self._deadline += interval
        if self.gc_after_tick:
            self.collect_garbage()
        behind = loop.time() - self._deadline
        if behind > interval:
            missed = int(behind / interval)
            m.tick_overruns.inc(missed)
            self._deadline += missed * interval
        self.state.tick_due = self._deadline
        self._handle = loop.call_at(self._deadline, self._on_timer)
        if self.state.held:
            loop.call_soon(self.release_held, True)

    def release_held(self, after_tick: bool = False) -> None:
        """Handle input held while a tick was due, HELD_BATCH_SECONDS at a time (flush batches
        and newly read input interleave), and not past the next tick's start, except that
        each tick is followed by one batch whatever the time: a server that is always behind
        still handles its clients' messages, just later."""
        st = self.state
        q = st.held
        stop = time.perf_counter() + HELD_BATCH_SECONDS
        while q and (after_tick or time.monotonic() < st.tick_due):
            q.popleft().release_held()
            if time.perf_counter() > stop:
                if q and time.monotonic() < st.tick_due:
                    asyncio.get_running_loop().call_soon(self.release_held, False)
                return

    def collect_garbage(self) -> None:
        """Run the garbage collector here, just after a tick, instead of wherever an
        allocation happens to trip it (often inside the next tick). Young generations go
        when they fill up, the old one every FULL_GC_SECONDS or FULL_GC_JOINS joins.

        What survives a full collection is frozen (`gc.freeze`): the collector never walks
        it again, though it is still freed the normal way, by reference count, when a player
        leaves. A full collection then costs what was made in the last FULL_GC_SECONDS
        instead of the whole heap: with 10,000 connections, walking the heap took ~160 ms, a
        hitch of ten ticks. The price: a reference cycle among frozen objects is never
        collected, so connections break theirs when they close (`Connection.finish_lost`;
        tests/server/test_no_cycles.py). There is no gauge of the frozen heap: counting it
        (`gc.get_freeze_count`) walks it, ~30 ms at 10,000 connections."""
        gen0, gen1, _ = gc.get_count()
        st = self.state
        if (
            time.monotonic() - self.last_full_gc > FULL_GC_SECONDS
            or st.joined_since_gc >= FULL_GC_JOINS
        ):
            t0 = time.perf_counter()
            found = gc.collect(2)
            gc.freeze()
            self.last_full_gc = time.monotonic()
            st.joined_since_gc = 0
            took = time.perf_counter() - t0
            if took > self.interval / 4:
                log.warning("full GC took %.1f ms (%d unreachable)", 1000 * took, found)
        elif gen0 > GEN0_AT:
            gc.collect(1 if gen1 >= GEN1_EVERY else 0)

    def stop(self) -> None:
        self.running = False
        # No tick will come: nothing may be held any more, and what was held is handled now.
        st = self.state
        st.tick_due = math.inf
        while st.held:
            st.held.popleft().release_held()
        if self._handle is not None:
            self._handle.cancel()
        if self._stopped is not None and not self._stopped.done():
            self._stopped.set_result(None)
