"""Missions: generated for a player, offered, accepted, checked in the world, completed once.

Lifecycle (persisted in `mission_offers` with a timestamp per step):
offered -> accepted -> completed | failed | expired. An offer not accepted within
`offer_ttl` seconds expires; an accepted mission expires at its deadline (accepted_at +
max(`min_deadline`, estimated minutes x `deadline_factor`)).

Generation: `AiService.generate_mission` with the context the game layer builds; the
difficulty hint comes from the player's history (`difficulty_for`): the mean difficulty of
the last `RECENT` ended missions (2 for a new player), +1 when at least 3 of them were
completed and none failed, -1 when at least half failed. Clamped to 1..10.

Completion: only when the server has verified every objective (`MissionTracker`, or a
client's request after that), and then money (the spec's reward) + faction impact + status
in ONE transaction, exactly once per (mission, player) (`missions.complete_with_rewards`,
keyed in `applied_events`). A repeated request, or the same request after a crash between
the commit and the reply, is answered from what was stored and applies nothing.

Faction impact: each `{faction, delta}` of the spec shifts the relationship between the
player's faction (the giver's when the player has none) and that faction by `delta`;
skipped when there is no such faction or it is the same one.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from server.ai.context import MissionContext
from server.ai.missions import MissionSpec
from server.ai.service import MissionResult
from server.ai.types import CallerInfo
from server.gameplay.events import (
    Emit,
    MissionAccepted,
    MissionCompleted,
    MissionExpired,
    MissionFailed,
    MissionOffered,
    MissionProgress,
)
from server.gameplay.factions import FactionService
from server.gameplay.metrics import GameplayMetrics
from server.gameplay.objectives import MissionState, Progress, WorldView, check_objectives
from server.persistence.models import MissionOffer
from server.persistence.repos import Repositories
from server.persistence.storage import StateConflict

log = logging.getLogger("ganggpt.gameplay.missions")

RECENT = 5  # ended missions the difficulty looks at
NEW_PLAYER_DIFFICULTY = 2


class MissionGenerator(Protocol):
    """What missions need of the AI layer (AiService has it)."""

    async def generate_mission(self, ctx: MissionContext, caller: CallerInfo) -> MissionResult: ...


class MissionError(Exception):
    """A mission request refused; `code` is the documented error code.

    Codes: unknown_mission (no such mission for this player), not_offered (accept on a
    mission not offered), offer_expired, not_accepted (complete / abandon a mission not
    accepted), incomplete (objectives not verified yet), too_many_offers.
    """

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True, slots=True)
class History:
    completed: int
    failed: int
    recent: tuple[tuple[str, int], ...]  # (state, difficulty) of the last ended, newest first


def difficulty_for(history: History) -> int:
    """The difficulty hint for the next mission (see the module docstring)."""
    if not history.recent:
        return NEW_PLAYER_DIFFICULTY
    base = sum(d for _, d in history.recent) / len(history.recent)
    done = sum(1 for s, _ in history.recent if s == "completed")
    bad = len(history.recent) - done
    if done >= 3 and bad == 0:
        base += 1
    elif bad * 2 >= len(history.recent):
        base -= 1
    return max(1, min(10, round(base)))


@dataclass(frozen=True, slots=True)
class CompletionResult:
    mission_id: str
    player_id: str
    reward: int
    balance: int
    faction_impact: dict[str, int]
    repeated: bool  # True: completed before, nothing applied by this call


def _spec_of(offer: MissionOffer) -> MissionSpec:
    return MissionSpec.model_validate(offer.spec["mission"])


def _places_of(offer: MissionOffer) -> dict[str, tuple[float, float]]:
    return {k: (float(v[0]), float(v[1])) for k, v in offer.spec.get("places", {}).items()}


class MissionService:
    """Mission rules over `repos.missions`; one per server."""

    def __init__(
        self,
        repos: Repositories,
        ai: MissionGenerator,
        factions: FactionService,
        emit: Emit,
        metrics: GameplayMetrics,
        *,
        offer_ttl: float = 600.0,
        deadline_factor: float = 2.0,
        min_deadline: float = 300.0,
        max_open_offers: int = 3,
        clock: Callable[[], float] = time.time,
        credit: Callable[[str, int], None] | None = None,
        after_commit: Callable[[str, str], None] | None = None,
    ) -> None:
        self.repos = repos
        self.ai = ai
        self.factions = factions
        self.emit = emit
        self.metrics = metrics
        self.offer_ttl = offer_ttl
        self.deadline_factor = deadline_factor
        self.min_deadline = min_deadline
        self.max_open_offers = max_open_offers
        self.clock = clock
        # credit(player_id, delta): apply the reward to the live player BEFORE the commit
        # (the persistence rule for money: a snapshot must not carry the old balance back).
        self.credit = credit
        self.after_commit = after_commit  # tests: crash right after the commit
        self.active: dict[str, MissionState] = {}  # accepted missions, by mission id
        self.offered: dict[str, tuple[str, float]] = {}  # mission id -> (player, expires_at)
        self._announced: set[str] = set()  # completions announced by this process
        self._locks: weakref.WeakValueDictionary[str, asyncio.Lock] = weakref.WeakValueDictionary()

    def _lock(self, mission_id: str) -> asyncio.Lock:
        lock = self._locks.get(mission_id)
        if lock is None:
            lock = self._locks[mission_id] = asyncio.Lock()
        return lock

    def _refuse(self, code: str, message: str) -> MissionError:
        self.metrics.mission_rejected.labels(code).inc()
        return MissionError(code, message)

    # --- start ---
    async def restore(self) -> int:
        """Load open offers and accepted missions after a start; returns how many."""
        for o in await self.repos.missions.open_offers():
            if o.state == "offered":
                self.offered[o.mission_id] = (o.player_id, o.expires_at or float("inf"))
            else:
                self.active[o.mission_id] = self._state(o)
        self.metrics.active_missions.set(len(self.active))
        return len(self.offered) + len(self.active)

    def _state(self, o: MissionOffer) -> MissionState:
        return MissionState(
            mission_id=o.mission_id,
            player_id=o.player_id,
            objectives=tuple(_spec_of(o).objectives),
            places=_places_of(o),
            accepted_at=o.accepted_at or self.clock(),
            deadline=o.deadline,
        )

    # --- history and generation ---
    async def history(self, player_id: str) -> History:
        offers = await self.repos.missions.offers(player_id, limit=50)
        ended = [o for o in offers if o.state in ("completed", "failed", "expired")]
        ended = [o for o in ended if o.accepted_at is not None]  # unaccepted offers don't count
        recent = tuple(
            (o.state, int(o.spec.get("mission", {}).get("difficulty", 1))) for o in ended[:RECENT]
        )
        return History(
            completed=sum(1 for o in ended if o.state == "completed"),
            failed=sum(1 for o in ended if o.state != "completed"),
            recent=recent,
        )

    async def offer(
        self,
        ctx: MissionContext,
        caller: CallerInfo,
        *,
        giver_faction: str | None = None,
        extra: dict[str, Any] | None = None,
    ) -> MissionOffered:
        """Generate a mission for `ctx.player_id` at the difficulty its history calls for,
        store the offer (with `extra`, e.g. who gave it, beside the spec) and emit
        `MissionOffered`."""
        player_id = ctx.player_id
        mine = [p for p, _ in self.offered.values() if p == player_id]
        if len(mine) >= self.max_open_offers:
            raise self._refuse("too_many_offers", "accept or let your offers expire first")
        hint = difficulty_for(await self.history(player_id))
        ctx = dataclasses.replace(ctx, difficulty_hint=hint)
        result = await self.ai.generate_mission(ctx, caller)
        spec = result.spec
        now = self.clock()
        expires = now + self.offer_ttl
        faction = giver_faction if giver_faction is not None else ctx.giver.faction
        impact = {f.faction: f.delta for f in spec.faction_impact}
        public = spec.model_dump(mode="json")
        stored: dict[str, Any] = {
            "mission": public,
            "places": {p.name: [p.x, p.y] for p in ctx.places},
            "source": result.source,
            **(extra or {}),
        }
        mission_id = await self.repos.missions.offer(
            player_id,
            title=spec.title,
            spec=stored,
            description=spec.description,
            generated_by="ai" if result.source != "offline" else "offline",
            difficulty=spec.difficulty,
            estimated_duration_s=spec.estimated_minutes * 60.0,
            reward_pool=spec.reward.money,
            faction_impact=impact or None,
            giver_faction=faction if faction not in (None, "none") else None,
            expires_at=expires,
        )
        self.offered[mission_id] = (player_id, expires)
        self.metrics.missions_generated.labels(result.source).inc()
        event = MissionOffered(
            at=now,
            mission_id=mission_id,
            player_id=player_id,
            title=spec.title,
            difficulty=spec.difficulty,
            reward=spec.reward.money,
            expires_at=expires,
            source=result.source,
            spec=public,
        )
        self.emit(event)
        return event

    async def _offer_of(self, mission_id: str, player_id: str) -> MissionOffer:
        o = await self.repos.missions.offer_of(mission_id)
        if o is None or o.player_id != player_id:
            raise self._refuse("unknown_mission", "no such mission for you")
        return o

    # --- lifecycle ---
    async def accept(self, player_id: str, mission_id: str) -> MissionAccepted:
        async with self._lock(mission_id):
            o = await self._offer_of(mission_id, player_id)
            now = self.clock()
            if o.state == "accepted" and mission_id in self.active:  # a repeated request
                return MissionAccepted(
                    at=now, mission_id=mission_id, player_id=player_id, deadline=o.deadline or 0
                )
            if o.state != "offered":
                raise self._refuse("not_offered", f"the mission is {o.state}")
            if o.expires_at is not None and o.expires_at <= now:
                raise self._refuse("offer_expired", "the offer has expired")
            spec = _spec_of(o)
            deadline = now + max(
                self.min_deadline, spec.estimated_minutes * 60.0 * self.deadline_factor
            )
            try:
                await self.repos.missions.accept(mission_id, player_id, deadline=deadline)
            except StateConflict:
                raise self._refuse("not_offered", "the mission is no longer offered") from None
            self.offered.pop(mission_id, None)
            self.active[mission_id] = MissionState(
                mission_id=mission_id,
                player_id=player_id,
                objectives=tuple(spec.objectives),
                places=_places_of(o),
                accepted_at=now,
                deadline=deadline,
            )
        self.metrics.missions_accepted.inc()
        self.metrics.active_missions.set(len(self.active))
        event = MissionAccepted(
            at=now, mission_id=mission_id, player_id=player_id, deadline=deadline
        )
        self.emit(event)
        return event

    async def fail(self, player_id: str, mission_id: str, reason: str) -> MissionFailed:
        """The mission failed (an objective failed, or the player abandoned it)."""
        async with self._lock(mission_id):
            o = await self._offer_of(mission_id, player_id)
            if o.state not in ("offered", "accepted"):
                raise self._refuse("not_accepted", f"the mission is {o.state}")
            await self.repos.missions.end(mission_id, player_id, "failed", reason)
            self._forget(mission_id)
        self.metrics.missions_failed.labels(reason.split(":", 1)[0]).inc()
        event = MissionFailed(
            at=self.clock(), mission_id=mission_id, player_id=player_id, reason=reason
        )
        self.emit(event)
        return event

    async def expire(self, player_id: str, mission_id: str) -> MissionExpired | None:
        async with self._lock(mission_id):
            o = await self._offer_of(mission_id, player_id)
            if o.state not in ("offered", "accepted"):
                self._forget(mission_id)
                return None
            await self.repos.missions.end(mission_id, player_id, "expired", f"{o.state} too long")
            self._forget(mission_id)
        self.metrics.missions_expired.labels(o.state).inc()
        event = MissionExpired(
            at=self.clock(), mission_id=mission_id, player_id=player_id, state=o.state
        )
        self.emit(event)
        return event

    def announced(self, mission_id: str) -> bool:
        """Whether this process has announced the mission's completion already (a later
        `complete` then emits nothing)."""
        return mission_id in self._announced

    def _forget(self, mission_id: str) -> None:
        self.offered.pop(mission_id, None)
        self.active.pop(mission_id, None)
        self.metrics.active_missions.set(len(self.active))

    async def complete(self, player_id: str, mission_id: str) -> CompletionResult:
        """Pay and apply the faction impact, once; safe to call any number of times."""
        async with self._lock(mission_id):
            o = await self._offer_of(mission_id, player_id)
            spec = _spec_of(o)
            if o.state == "completed":
                self.metrics.completion_repeats.inc()
                return await self._result(o, spec, repeated=True, shifts=None)
            if o.state != "accepted":
                raise self._refuse("not_accepted", f"the mission is {o.state}")
            state = self.active.get(mission_id)
            if state is None or not state.complete:
                raise self._refuse("incomplete", "the objectives are not done yet")
            shifts = await self._shifts(player_id, o, spec)
            before = [await self.factions.relationship(a, b) for a, b, _ in shifts]
            reward = spec.reward.money
            if self.credit is not None and reward:
                self.credit(player_id, reward)
            try:
                await self.repos.missions.complete_with_rewards(
                    mission_id, player_id, reward=reward, shifts=shifts, rule=self.factions.rule
                )
            except BaseException:
                if self.credit is not None and reward:
                    self.credit(player_id, -reward)
                raise
            if self.after_commit is not None:
                self.after_commit(mission_id, player_id)
            self._forget(mission_id)
            self.metrics.missions_completed.inc()
            o = dataclasses.replace(o, state="completed")
            result = await self._result(o, spec, repeated=False, shifts=shifts)
            for (a, b, _), old in zip(shifts, before, strict=True):
                after = await self.factions.relationship(a, b)
                if after != old:
                    self.factions.announce(old, after, "mission")
        return result

    async def _shifts(
        self, player_id: str, o: MissionOffer, spec: MissionSpec
    ) -> list[tuple[str, str, int]]:
        m = await self.repos.factions.membership(player_id)
        actor = m.faction if m is not None else o.giver_faction
        if actor is None:
            return []
        out = []
        for f in spec.faction_impact:
            if f.faction != actor and f.delta and await self.repos.factions.state(f.faction):
                out.append((actor, f.faction, f.delta))
        return out

    async def _result(
        self,
        o: MissionOffer,
        spec: MissionSpec,
        *,
        repeated: bool,
        shifts: list[tuple[str, str, int]] | None,
    ) -> CompletionResult:
        player = await self.repos.players.get(o.player_id)
        impact = (
            {b: d for _, b, d in shifts}
            if shifts is not None
            else {f.faction: f.delta for f in spec.faction_impact}
        )
        result = CompletionResult(
            mission_id=o.mission_id,
            player_id=o.player_id,
            reward=spec.reward.money,
            balance=player.money if player is not None else 0,
            faction_impact=impact,
            repeated=repeated,
        )
        # Announced once per process: a restart after a crash between the commit and the
        # reply announces the completion that was never announced.
        if o.mission_id not in self._announced:
            self._announced.add(o.mission_id)
            self.emit(
                MissionCompleted(
                    at=self.clock(),
                    mission_id=o.mission_id,
                    player_id=o.player_id,
                    reward=result.reward,
                    balance=result.balance,
                    faction_impact=impact,
                )
            )
        return result

    # --- what the tracker does with a check ---
    def advance(self, state: MissionState, progress: Progress) -> bool:
        """Store the new objective states; True when the player should hear about it."""
        changed = progress.differs(state.states)
        if self.active.get(state.mission_id) is state:
            self.active[state.mission_id] = dataclasses.replace(state, states=progress.states)
        return changed


class MissionTracker:
    """Checks every accepted mission against the world at a low rate, off the tick.

    `view()` returns a WorldView over the live world arrays (or None when there is no world
    yet); a pass reads it and runs every check synchronously, between two ticks, without
    awaiting. Progress is emitted only when it changed; completions, failures and expiries
    run as tasks afterwards (they await the database).
    """

    def __init__(
        self,
        missions: MissionService,
        view: Callable[[], WorldView | None],
        *,
        interval: float = 0.5,
    ) -> None:
        self.missions = missions
        self.view = view
        self.interval = interval
        self._task: asyncio.Task[None] | None = None
        self._work: set[asyncio.Task[Any]] = set()
        self._busy: set[str] = set()  # missions with a completion / failure in flight

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="ganggpt-mission-tracker")

    async def stop(self) -> None:
        tasks = [t for t in (self._task, *self._work) if t is not None]
        for t in tasks:
            t.cancel()
        for t in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await t
        self._task = None

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            try:
                self.step()
            except Exception:
                self.missions.metrics.tracker_errors.inc()
                log.exception("mission tracker pass failed")

    def step(self) -> int:
        """One pass (synchronous); returns how many missions it checked."""
        t0 = time.perf_counter()
        m = self.missions
        now = m.clock()
        for mid, (player_id, expires) in list(m.offered.items()):
            if expires <= now:
                self._later(mid, m.expire(player_id, mid))
        view = self.view()
        checked = 0
        for mid, state in list(m.active.items()):
            if mid in self._busy:
                continue
            if state.deadline is not None and state.deadline <= now:
                self._later(mid, m.expire(state.player_id, mid))
                continue
            if view is None:
                continue
            progress = check_objectives(state, view)
            checked += 1
            if progress.failed is not None:
                self._later(mid, m.fail(state.player_id, mid, progress.failed))
                continue
            if m.advance(state, progress):
                m.metrics.mission_progress.inc()
                m.emit(
                    MissionProgress(
                        at=now,
                        mission_id=mid,
                        player_id=state.player_id,
                        objectives=progress.fractions,
                        done=progress.done,
                    )
                )
            if progress.complete:
                self._later(mid, m.complete(state.player_id, mid))
        m.metrics.tracker_pass.observe(time.perf_counter() - t0)
        return checked

    def _later(self, mission_id: str, coro: Any) -> None:
        self._busy.add(mission_id)
        task = asyncio.get_running_loop().create_task(coro)
        self._work.add(task)

        def done(t: asyncio.Task[Any]) -> None:
            self._work.discard(t)
            self._busy.discard(mission_id)
            if not t.cancelled() and t.exception() is not None:
                err = t.exception()
                if not isinstance(err, MissionError):
                    self.missions.metrics.tracker_errors.inc()
                    log.warning("mission %s: %s", mission_id, err)

        task.add_done_callback(done)

    async def idle(self) -> None:
        """Wait for the completions / failures started by passes so far (tests, shutdown)."""
        while self._work:
            await asyncio.gather(*list(self._work), return_exceptions=True)


__all__ = [
    "CompletionResult",
    "History",
    "MissionError",
    "MissionGenerator",
    "MissionService",
    "MissionTracker",
    "difficulty_for",
]
