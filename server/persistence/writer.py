"""The single writer behind the tick: write-behind snapshots, critical writes, outage, replay.

Why one writer task for every write: order. Snapshots, money moves, faction changes and the
journal all pass through one queue consumed by one task, so "in order" needs no locks: the
database sees writes in the order the game made them, the journal holds them in that order
during an outage, and replay applies them in that order before anything newer.

Two modes:
- online: queued writes go to the database one transaction each; coalesced snapshots are
  upserted in one batch every SNAPSHOT_INTERVAL.
- outage (the database failed twice in a row, or the journal still holds records): queued
  writes are appended to the journal and fsync'd (group commit) before their callers are
  answered; snapshots wait in memory (coalesced, bounded) and are spilled to the journal after
  PERSIST_SPILL_AFTER seconds; the database is probed with backoff, and when it answers the
  journal is replayed chunk by chunk, then emptied, then the mode is online again.

`submit_snapshots` is the only call made from the tick: it is a few dict stores, never
blocks, never raises.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from server.persistence.api import PlayerSnapshot
from server.persistence.journal import Journal
from server.persistence.metrics import PersistenceMetrics
from server.persistence.ops import Op, SaveSnapshots, op_to_dict
from server.persistence.storage import PersistenceError, Storage

log = logging.getLogger("ganggpt.persistence")

REPLAY_CHUNK = 500
REFUSAL_STORM = 5  # critical writes refused in a row before health calls the database down


@dataclass(slots=True)
class _Queued:
    op: Op
    fut: asyncio.Future[None] | None  # None: fire-and-forget (not critical)
    at: float  # wall time it was queued


def _newer(a: PlayerSnapshot | None, b: PlayerSnapshot | None) -> PlayerSnapshot | None:
    if a is None:
        return b
    if b is None:
        return a
    return a if a.taken_at >= b.taken_at else b


class WriteBehind:
    def __init__(
        self,
        storage: Storage,
        journal: Journal,
        metrics: PersistenceMetrics,
        *,
        interval: float = 1.0,
        queue_size: int = 10000,
        spill_after: float = 5.0,
        retry_max: float = 5.0,
        on_flushed: Callable[[Sequence[PlayerSnapshot]], None] | None = None,
        prepare: Callable[[], Awaitable[None]] | None = None,
        probe_every: float = 5.0,
        stuck_after: float = 10.0,
    ) -> None:
        self.storage = storage
        self.journal = journal
        self.metrics = metrics
        self.interval = interval
        self.queue_size = queue_size
        self.spill_after = spill_after
        self.retry_max = retry_max
        self.on_flushed = on_flushed
        self.prepare = prepare  # run when the database answers again, before replay
        self.probe_every = probe_every
        self.stuck_after = stuck_after
        # Writes the database refused while reachable (constraint storm, read-only file, full
        # disk): what makes health say "down" although the connection is fine.
        self._refusals = 0  # refused in a row, no write accepted since
        self._refused_heartbeat = False  # a snapshot batch or a write probe was refused
        self.last_refusal: str | None = None
        self._busy_since: float | None = None  # monotonic start of the write in progress
        self._last_ok = time.monotonic()  # last write the database accepted
        self.outage = False
        self.last_error: str | None = None
        self.journal_error: str | None = None
        self._snaps: dict[str, PlayerSnapshot] = {}
        self._snaps_since: float | None = None  # wall time of the oldest change in _snaps
        self._inflight: dict[str, PlayerSnapshot] = {}
        self._inflight_since: float | None = None
        self._journaled: dict[str, PlayerSnapshot] = {}  # snapshots in the journal, not in db
        self._ops: deque[_Queued] = deque()
        self._loose = 0  # fire-and-forget writes queued (bounded by queue_size)
        self._overflow = False
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._closing = False
        self._closed = False
        self._offset = 0  # replay cursor in the journal
        self._last_flush = time.monotonic()
        self._backoff = 0.25
        self._probe_at = 0.0
        self._probe: asyncio.Task[None] | None = None
        self._replaying = False  # the database answered a probe: replay chunk after chunk
        metrics.db_up.set(1)

    # --- called by the game ---
    def submit_snapshots(self, snaps: Sequence[PlayerSnapshot]) -> None:
        """Coalesce into the pending set. Never blocks, never raises (runs on the tick)."""
        try:
            pending = self._snaps
            for s in snaps:
                if not (
                    math.isfinite(s.x)
                    and math.isfinite(s.y)
                    and math.isfinite(s.z)
                    and math.isfinite(s.heading)
                ):
                    self.metrics.snapshots_dropped.labels("non_finite").inc()
                    continue
                old = pending.get(s.player_id)
                if old is None:
                    if len(pending) >= self.queue_size:
                        self.metrics.snapshots_dropped.labels("queue_full").inc()
                        self._overflow = True
                        self._wake.set()
                        continue
                elif old.taken_at > s.taken_at:
                    continue
                pending[s.player_id] = s
                if self._snaps_since is None:
                    self._snaps_since = s.taken_at
                    self._wake.set()  # flush as soon as the interval allows (RPO)
        except Exception:  # the tick must never see a persistence error
            log.exception("submit_snapshots failed")

    def submit(self, op: Op) -> bool:
        """Queue a non-critical write (NPC memory...). False when the queue is full."""
        if self._closed or self._loose >= self.queue_size:
            self.metrics.snapshots_dropped.labels("queue_full").inc()
            return False
        self._ops.append(_Queued(op, None, time.time()))
        self._loose += 1
        self._wake.set()
        return True

    async def commit(self, op: Op) -> None:
        """Return once `op` is committed to the database or fsync'd to the journal.

        Raises the database's error when it refuses the write itself (e.g. a constraint),
        PersistenceError when neither the database nor the journal could take it.
        """
        if self._closed:
            raise PersistenceError("persistence is closed")
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._ops.append(_Queued(op, fut, time.time()))
        self._wake.set()
        await fut

    # --- state for reads, health and metrics ---
    def unflushed(self, player_id: str) -> PlayerSnapshot | None:
        """The newest snapshot of a player that the database may not have yet."""
        return _newer(
            _newer(self._snaps.get(player_id), self._inflight.get(player_id)),
            self._journaled.get(player_id),
        )

    def queue_depth(self) -> int:
        return len(self._snaps) + len(self._inflight) + len(self._ops)

    def oldest_unpersisted(self) -> float | None:
        """Wall time of the oldest change that is not in the database yet."""
        times = [
            t
            for t in (
                self._snaps_since,
                self._inflight_since,
                self._ops[0].at if self._ops else None,
                self.journal.oldest_at if self.journal.records else None,
            )
            if t is not None
        ]
        return min(times) if times else None

    def oldest_age(self) -> float:
        t = self.oldest_unpersisted()
        return 0.0 if t is None else max(0.0, time.time() - t)

    # --- refused writes (health) ---
    def accepted(self) -> None:
        """The database took a write."""
        self._refusals = 0
        self._refused_heartbeat = False
        self.last_refusal = None
        self._last_ok = time.monotonic()

    def refused(self, what: str, err: BaseException, *, heartbeat: bool = False) -> None:
        """The database, reachable, refused a write. `heartbeat`: a write that is never
        refused by a healthy database (a snapshot batch, the write probe)."""
        self._refusals += 1
        self._refused_heartbeat = self._refused_heartbeat or heartbeat
        self.last_refusal = f"{what}: {type(err).__name__}: {err}"

    def refusing(self) -> str | None:
        """Why the database counts as refusing writes now (None: it takes them)."""
        busy = self._busy_since
        if busy is not None and time.monotonic() - busy > self.stuck_after:
            return f"a write has been waiting on the database for {time.monotonic() - busy:.0f} s"
        if self._refused_heartbeat or self._refusals >= REFUSAL_STORM:
            return f"{self._refusals} writes refused in a row; last: {self.last_refusal}"
        return None

    def state(self) -> dict[str, Any]:
        return {
            "refusing": self.refusing(),
            "mode": "outage" if self.outage else "online",
            "queue_depth": self.queue_depth(),
            "journal_records": self.journal.records,
            "journal_bytes": self.journal.size,
            "oldest_unpersisted_s": round(self.oldest_age(), 3),
            "last_error": self.last_error,
            "journal_error": self.journal_error,
        }

    # --- lifecycle ---
    def start(self) -> None:
        if self.journal.records and not self.outage:
            self._enter_outage("journal holds records from before")
        self._task = asyncio.create_task(self._run(), name="ganggpt-persist-writer")

    async def replay_all(self) -> None:
        """Apply the whole journal now (start-up, before serving). Raises if the db is down."""
        while self.journal.records:
            done = await self._replay_chunk()
            if done:
                break

    async def close(self, timeout: float) -> None:
        """Flush everything (database, or journal when it cannot), then stop."""
        self._closing = True
        self._wake.set()
        task = self._task
        if task is not None:
            try:
                await asyncio.wait_for(asyncio.shield(task), timeout)
            except (TimeoutError, Exception):
                task.cancel()
                with contextlib.suppress(BaseException):
                    await task
                # The writer is stopped, so nothing else appends: save what is left.
                await self._journal_everything()
        self._closed = True
        if self._probe is not None:
            self._probe.cancel()
        for item in self._ops:  # only left when neither the database nor the journal took it
            self._resolve(item, PersistenceError("closed before the write was durable"))
        self._ops.clear()

    def abandon(self) -> None:
        """Stop without flushing anything, as if the process had been killed."""
        self._closed = True
        for t in (self._task, self._probe):
            if t is not None:
                t.cancel()

    # --- the writer task ---
    def _idle(self) -> bool:
        return not self._ops and not self._snaps

    def _deadline(self) -> float:
        now = time.monotonic()
        if self.outage:
            d = self._probe_at - now if self._probe is None else 3600.0
            if self._snaps_since is not None:
                d = min(d, self._snaps_since + self.spill_after - time.time())
        elif not self._snaps:
            d = self.interval  # nothing to flush: sleep until submit_snapshots wakes us
        else:
            d = self._last_flush + self.interval - now
        return max(0.0, d)

    async def _run(self) -> None:
        while True:
            if not (self._ops or self._closing or self._overflow):
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), self._deadline())
            self._wake.clear()
            try:
                if self.outage:
                    await self._outage_step()
                else:
                    await self._online_step()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("persistence writer step failed")
                await asyncio.sleep(0.1)
            if self._closing and self._idle():
                return
            if self._closing and self.outage and self.journal_error:
                return  # nowhere left to write; close() reports what is lost

    def mark_unavailable(self, why: str) -> None:
        """Another caller saw the database fail: switch to the journal until it is back."""
        self._enter_outage(why)
        self._wake.set()

    def _enter_outage(self, why: str) -> None:
        if not self.outage:
            log.warning("database unavailable, journaling writes: %s", why)
            self.metrics.outages.inc()
        self.outage = True
        self._replaying = False
        self.last_error = why
        self.metrics.db_up.set(0)
        self._backoff = 0.25
        self._probe_at = time.monotonic() + self._backoff

    def _leave_outage(self) -> None:
        log.warning("database back, journal replayed")
        self.outage = False
        self._replaying = False
        self.last_error = None
        self.metrics.db_up.set(1)
        self._journaled.clear()
        self._last_flush = 0.0  # flush what piled up right away

    def _resolve(self, item: _Queued, err: BaseException | None = None) -> None:
        if item.fut is None:
            self._loose -= 1
            if err is not None:
                log.error("write %s dropped: %s", item.op.kind, err)
            return
        if item.fut.done():
            return
        if err is None:
            item.fut.set_result(None)
        else:
            item.fut.set_exception(err)

    async def _db_write(self, op: Op, kind: str) -> None:
        t0 = time.perf_counter()
        self._busy_since = time.monotonic()
        try:
            await self.storage.apply(op)
        finally:
            self._busy_since = None
        self.metrics.write_seconds.labels("db", kind).observe(time.perf_counter() - t0)

    async def _online_step(self) -> None:
        while self._ops:
            item = self._ops[0]
            kind = "critical" if item.fut is not None else "queued"
            try:
                try:
                    await self._db_write(item.op, kind)
                except Exception as first:
                    if not self.storage.is_unavailable(first) or isinstance(first, TimeoutError):
                        raise
                    await self._db_write(item.op, kind)  # one retry: a stale pooled connection
            except Exception as err:
                if self.storage.is_unavailable(err):
                    self._enter_outage(f"{type(err).__name__}: {err}")
                    return  # the item stays queued; the outage step journals it
                self._ops.popleft()
                self.metrics.write_errors.inc()
                self.refused(item.op.kind, err)
                self._resolve(item, err)
                continue
            self._ops.popleft()
            self.metrics.writes.labels("db").inc()
            self.accepted()
            self._resolve(item)
        due = time.monotonic() - self._last_flush >= self.interval
        if self._snaps and (due or self._closing or self._overflow):
            await self._flush_snapshots()
        elif not self._closing and time.monotonic() - self._last_ok >= self.probe_every:
            await self._probe_write()

    async def _probe_write(self) -> None:
        """No write for a while: make a tiny one, so a database that stopped taking writes
        (read-only file, full disk, stuck lock) shows in health even on an idle server."""
        self._busy_since = time.monotonic()
        try:
            await self.storage.probe_write(time.time())
        except asyncio.CancelledError:
            raise
        except Exception as err:
            if self.storage.is_unavailable(err):
                self._enter_outage(f"{type(err).__name__}: {err}")
            else:
                self.refused("write probe", err, heartbeat=True)
                self._last_ok = time.monotonic()  # next probe after another interval
            return
        finally:
            self._busy_since = None
        self.accepted()

    async def _flush_snapshots(self) -> None:
        batch, since = self._snaps, self._snaps_since
        self._snaps, self._snaps_since, self._overflow = {}, None, False
        self._inflight, self._inflight_since = batch, since
        self._last_flush = time.monotonic()
        snaps = list(batch.values())
        try:
            t0 = time.perf_counter()
            self._busy_since = time.monotonic()
            await self.storage.upsert_snapshots(snaps)
            self.metrics.write_seconds.labels("db", "snapshots").observe(time.perf_counter() - t0)
        except asyncio.CancelledError:
            self._requeue(batch, since)
            raise
        except Exception as err:
            if self.storage.is_unavailable(err):
                self._requeue(batch, since)
                self._enter_outage(f"{type(err).__name__}: {err}")
            else:
                self.metrics.write_errors.inc()
                self.refused("snapshots", err, heartbeat=True)
                log.error("snapshot batch of %d refused by the database: %s", len(snaps), err)
            return
        finally:
            self._busy_since = None
            self._inflight, self._inflight_since = {}, None
        self.accepted()
        self.metrics.snapshots_written.inc(len(snaps))
        if self.on_flushed is not None:
            try:
                self.on_flushed(snaps)
            except Exception:
                log.exception("on_flushed callback failed")

    def _requeue(self, batch: dict[str, PlayerSnapshot], since: float | None) -> None:
        """Put a failed batch back under anything newer that arrived meanwhile."""
        for pid, s in batch.items():
            cur = self._snaps.get(pid)
            if cur is None or cur.taken_at < s.taken_at:
                self._snaps[pid] = s
        if since is not None and (self._snaps_since is None or since < self._snaps_since):
            self._snaps_since = since

    async def _journal_append(self, ops: Sequence[Op], kind: str) -> None:
        t0 = time.perf_counter()
        await self.journal.append(ops, time.time())
        self.metrics.write_seconds.labels("journal", kind).observe(time.perf_counter() - t0)
        self.metrics.writes.labels("journal").inc(len(ops))

    async def _journal_ops(self) -> None:
        items = list(self._ops)
        if not items:
            return
        try:
            await self._journal_append([i.op for i in items], "critical")
        except Exception as err:
            self.journal_error = f"{type(err).__name__}: {err}"
            log.error("journal append failed, %d writes not durable: %s", len(items), err)
            for i in items:
                self._ops.popleft()
                self._resolve(i, PersistenceError(f"database and journal unavailable: {err}"))
            return
        self.journal_error = None
        for i in items:
            self._ops.popleft()
            self._resolve(i)

    async def _spill_snapshots(self) -> None:
        batch, since = self._snaps, self._snaps_since
        self._snaps, self._snaps_since, self._overflow = {}, None, False
        try:
            await self._journal_append([SaveSnapshots(tuple(batch.values()))], "snapshots")
        except Exception as err:
            self.journal_error = f"{type(err).__name__}: {err}"
            self._requeue(batch, since)
            return
        for pid, s in batch.items():
            self._journaled[pid] = _newer(self._journaled.get(pid), s) or s

    async def _outage_step(self) -> None:
        await self._journal_ops()
        spill_due = (
            self._snaps_since is not None and time.time() - self._snaps_since >= self.spill_after
        )
        if self._snaps and (spill_due or self._overflow or self._closing):
            await self._spill_snapshots()
        if self._closing:
            return
        if not self._replaying:
            probe = self._probe
            if probe is None:
                if time.monotonic() >= self._probe_at:
                    # Probed on a task of its own: against a database that hangs rather than
                    # refuses, a probe waits for its timeout, and critical writes must keep
                    # being journaled (and acknowledged) meanwhile.
                    self._probe = asyncio.create_task(self._probe_db(), name="ganggpt-db-probe")
                    self._probe.add_done_callback(lambda _: self._wake.set())
                return
            if not probe.done():
                return
            self._probe = None
            failure = None if probe.cancelled() else probe.exception()
            if probe.cancelled() or failure is not None:
                self.last_error = f"{type(failure).__name__}: {failure}"
                self._backoff = min(self._backoff * 2, self.retry_max)
                self._probe_at = time.monotonic() + self._backoff
                return
            self._replaying = True
        try:
            await self._replay_chunk()
        except Exception as exc:
            self._replaying = False
            if not self.storage.is_unavailable(exc):
                raise
            self.last_error = f"{type(exc).__name__}: {exc}"
            self._probe_at = time.monotonic() + self._backoff
            return
        self._wake.set()  # next chunk (or online work) right away

    async def _probe_db(self) -> None:
        await self.storage.ping()
        if self.prepare is not None:
            await self.prepare()

    async def _replay_chunk(self) -> bool:
        """Apply the next journal records; True (and online) once the journal is empty."""
        records, end = await self.journal.read(self._offset, REPLAY_CHUNK)
        if records:
            t0 = time.perf_counter()
            await self._apply_records([op for _, op in records])
            self.metrics.write_seconds.labels("db", "replay").observe(time.perf_counter() - t0)
            self.metrics.replayed.inc(len(records))
            self._offset = end
            return False
        await self.journal.clear()
        self._offset = 0
        self._leave_outage()
        return True

    async def _apply_records(self, ops: list[Op]) -> None:
        """In order; runs of snapshot records become one batch (latest per player wins)."""
        i = 0
        while i < len(ops):
            op = ops[i]
            if isinstance(op, SaveSnapshots):
                merged: dict[str, PlayerSnapshot] = {}
                while i < len(ops) and isinstance(ops[i], SaveSnapshots):
                    run = ops[i]
                    assert isinstance(run, SaveSnapshots)
                    for s in run.snaps:
                        cur = merged.get(s.player_id)
                        if cur is None or cur.taken_at <= s.taken_at:
                            merged[s.player_id] = s
                    i += 1
                op = SaveSnapshots(tuple(merged.values()))
            else:
                i += 1
            try:
                await self.storage.apply(op)
            except Exception as err:
                if self.storage.is_unavailable(err):
                    raise
                self.metrics.rejected.inc()
                self.journal_error = None
                log.error("journal record %s refused by the database: %s", op.kind, err)
                await self._reject(op, err)

    async def _reject(self, op: Op, err: BaseException) -> None:
        line = orjson.dumps({"error": f"{type(err).__name__}: {err}", "op": op_to_dict(op)})
        path = self.journal.rejected_path

        def write() -> None:
            with open(path, "ab") as fh:
                fh.write(line + b"\n")

        await asyncio.get_running_loop().run_in_executor(None, write)

    async def _journal_everything(self) -> None:
        ops = [i.op for i in self._ops]
        if self._snaps:
            ops.append(SaveSnapshots(tuple(self._snaps.values())))
        if not ops:
            return
        try:
            await self.journal.append(ops, time.time())
        except Exception as err:
            log.error("could not save %d pending writes at close: %s", len(ops), err)
            for i in self._ops:
                self._resolve(i, PersistenceError(str(err)))
            return
        for i in self._ops:
            self._resolve(i)
        self._ops.clear()
        self._snaps.clear()
        self._snaps_since = None
