"""Typed domain events and the bus that carries them.

Game code publishes what happened (`PlayerJoined`, `MoneyChanged`, ...); whoever cares
subscribes. Two kinds of subscriber, because the tick is sacred:

- inline (`subscribe`): called synchronously inside `publish`, for cheap work (forwarding to
  clients, counters). Each call is timed; one over the handler budget is logged and counted,
  one that raises is logged and counted and the others still run.
- workers (`worker`): an async function fed through a bounded queue by its own task, for slow
  work (AI, persistence, Redis, other processes). `publish` never waits on a worker: when its
  queue is full the overflow policy drops the oldest or the newest event, and the drop is
  counted. There is deliberately no "block" policy: the publisher may be the tick.

Metrics (prometheus, `server/metrics.py`): events published by type, each worker's queue
depth and drops, and every handler's time, overruns and errors.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import enum
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from server.game.player import Player
from server.gameplay.events import GameplayEvent
from server.metrics import Metrics

log = logging.getLogger("ganggpt.events")


# --- the events ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PlayerJoined:
    player: Player
    resumed: bool


@dataclass(frozen=True, slots=True)
class PlayerLeft:
    player: Player
    kept_for_resume: bool  # its net id and seat are reserved for RESUME_WINDOW seconds


@dataclass(frozen=True, slots=True)
class ChatSaid:
    player: Player
    text: str


@dataclass(frozen=True, slots=True)
class NpcTalked:
    """An NPC answered a player (the whole reply; streamed parts went to the player first)."""

    player: Player
    npc: int
    text: str
    reply: str
    reply_id: int | None = None
    replaced: bool = False
    # The actions the NPC took with this reply, checked and applied (server/game/npc_actions.py).
    actions: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class NpcActed:
    """An NPC did something for or against a player because of what it said: one of the
    actions of server/ai/actions.py, after the server checked and applied it. `detail` has
    what it came to (amount, mission id, listeners told, ...)."""

    player: Player
    npc: int
    action: str
    detail: dict[str, Any]


@dataclass(frozen=True, slots=True)
class MoneyChanged:
    player: Player
    old: int
    new: int
    reason: str
    # True when the change is durable already (a mission reward, committed with the
    # mission): the ledger must not record it a second time.
    recorded: bool = False


@dataclass(frozen=True, slots=True)
class FactionChanged:
    player: Player
    old: str | None
    new: str | None
    rank: int


@dataclass(frozen=True, slots=True)
class MissionChanged:
    player: Player
    mission: str
    status: str  # e.g. offered, started, completed, failed


@dataclass(frozen=True, slots=True)
class AdminAction:
    actor: str  # who did it (an account id or "console")
    action: str  # e.g. kick, ban, announce
    target: str | None = None
    detail: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class CustomEvent:
    """A game mode's own event (`type` namespaced like custom messages)."""

    type: str
    data: dict[str, Any]
    player: Player | None = None


Event = (
    PlayerJoined
    | PlayerLeft
    | ChatSaid
    | NpcTalked
    | NpcActed
    | MoneyChanged
    | FactionChanged
    | MissionChanged
    | AdminAction
    | CustomEvent
    # The gameplay services' events (server/gameplay/events.py: factions, missions,
    # companions) travel on the same bus: their `emit` is `bus.publish`.
    | GameplayEvent
)
EVENT_TYPES: tuple[type[Event], ...] = (
    PlayerJoined,
    PlayerLeft,
    ChatSaid,
    NpcTalked,
    NpcActed,
    MoneyChanged,
    FactionChanged,
    MissionChanged,
    AdminAction,
    CustomEvent,
)
E = TypeVar("E", bound=Event)


# --- timing every piece of game code the same way ------------------------------------------


class HandlerTimer:
    """Runs game code (event handlers, custom message handlers, timers) measured: its time
    goes to `ganggpt_game_handler_seconds`, one over `budget` seconds is logged and counted,
    one that raises is logged and counted. Returns False when the call raised."""

    def __init__(self, metrics: Metrics, budget: float) -> None:
        self.metrics = metrics
        self.budget = budget

    def run(self, label: str, fn: Callable[..., object], *args: object) -> bool:
        t0 = time.perf_counter()
        ok = True
        try:
            fn(*args)
        except Exception:
            ok = False
            log.exception("game handler %s failed", label)
            self.metrics.game_handler_errors.labels(handler=label).inc()
        self.done(label, time.perf_counter() - t0)
        return ok

    def done(self, label: str, took: float) -> None:
        m = self.metrics
        m.game_handler_seconds.labels(handler=label).observe(took)
        if took > self.budget:
            m.game_handler_overruns.labels(handler=label).inc()
            log.warning(
                "game handler %s took %.1f ms (budget %.1f ms)",
                label,
                1000 * took,
                1000 * self.budget,
            )


# --- workers ------------------------------------------------------------------------------


class Overflow(enum.Enum):
    """What a full worker queue does with one more event. Neither blocks the publisher."""

    DROP_OLDEST = "drop_oldest"  # keep the newest events (state that supersedes itself)
    DROP_NEWEST = "drop_newest"  # keep what is queued (a backlog that must stay in order)


class Worker:
    """A slow subscriber: its own task, fed through a bounded queue."""

    def __init__(
        self,
        name: str,
        fn: Callable[[Any], Awaitable[None]],
        maxsize: int,
        overflow: Overflow,
        timer: HandlerTimer,
    ) -> None:
        if maxsize < 1:
            raise ValueError("a worker queue holds at least one event")
        self.name = name
        self.fn = fn
        self.maxsize = maxsize
        self.overflow = overflow
        self.timer = timer
        self.queue: collections.deque[Event] = collections.deque()
        self.wake = asyncio.Event()
        self.task: asyncio.Task[None] | None = None
        m = timer.metrics
        self._depth = m.event_queue_depth.labels(worker=name)
        self._dropped = m.events_dropped.labels(worker=name)
        self._label = f"worker:{name}"

    def offer(self, ev: Event) -> None:
        q = self.queue
        if len(q) >= self.maxsize:
            self._dropped.inc()
            if self.overflow is Overflow.DROP_NEWEST:
                return
            q.popleft()
        q.append(ev)
        self._depth.set(len(q))
        self.wake.set()

    def start(self) -> None:
        if self.task is None:
            self.task = asyncio.get_running_loop().create_task(self._run(), name=self._label)

    async def _run(self) -> None:
        q = self.queue
        while True:
            await self.wake.wait()
            self.wake.clear()
            while q:
                ev = q.popleft()
                self._depth.set(len(q))
                t0 = time.perf_counter()
                try:
                    await self.fn(ev)
                except asyncio.CancelledError:
                    raise
                except Exception:
                    log.exception("event worker %s failed on %s", self.name, type(ev).__name__)
                    self.timer.metrics.game_handler_errors.labels(handler=self._label).inc()
                # Wall time, awaits included: what a queue's consumer rate depends on.
                self.timer.metrics.game_handler_seconds.labels(handler=self._label).observe(
                    time.perf_counter() - t0
                )

    async def stop(self) -> None:
        if self.task is not None:
            self.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.task
            self.task = None


# --- the bus ------------------------------------------------------------------------------


class EventBus:
    def __init__(self, metrics: Metrics, timer: HandlerTimer) -> None:
        self.metrics = metrics
        self.timer = timer
        self._inline: dict[type[Any], list[tuple[str, Callable[[Any], object]]]] = (
            collections.defaultdict(list)
        )
        self._workers: dict[type[Any], list[Worker]] = collections.defaultdict(list)
        self.workers: list[Worker] = []
        self._published = {t: metrics.events_published.labels(type=t.__name__) for t in EVENT_TYPES}
        self._running = False

    def subscribe(
        self, kind: type[E], fn: Callable[[E], object], *, name: str | None = None
    ) -> Callable[[], None]:
        """Call `fn(event)` inline for every event of this type; returns an unsubscribe."""
        entry = (f"event:{kind.__name__}:{name or getattr(fn, '__qualname__', 'fn')}", fn)
        subs = self._inline[kind]
        subs.append(entry)

        def unsubscribe() -> None:
            if entry in subs:
                subs.remove(entry)

        return unsubscribe

    def worker(
        self,
        name: str,
        kinds: tuple[type[Event], ...],
        fn: Callable[[Any], Awaitable[None]],
        *,
        maxsize: int = 1000,
        overflow: Overflow = Overflow.DROP_OLDEST,
    ) -> Worker:
        """Feed every event of these types to `await fn(event)` on a task of its own."""
        if any(w.name == name for w in self.workers):
            raise ValueError(f"an event worker named {name!r} exists already")
        w = Worker(name, fn, maxsize, overflow, self.timer)
        for k in kinds:
            self._workers[k].append(w)
        self.workers.append(w)
        if self._running:
            w.start()
        return w

    def publish(self, ev: Event) -> None:
        kind = type(ev)
        counter = self._published.get(kind)
        if counter is not None:
            counter.inc()
        for label, fn in tuple(self._inline.get(kind, ())):
            self.timer.run(label, fn, ev)
        for w in self._workers.get(kind, ()):
            w.offer(ev)

    def start(self) -> None:
        self._running = True
        for w in self.workers:
            w.start()

    async def stop(self) -> None:
        self._running = False
        for w in self.workers:
            await w.stop()
