"""Missions through the service and the tracker, on every backend: offer, accept, objectives
verified in a world view, completion paid once, failure, expiry, history-driven difficulty."""

from __future__ import annotations

import time
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from server.ai.service import AiService
from server.ai.types import CallerInfo
from server.gameplay.events import (
    GameplayEvent,
    MissionCompleted,
    MissionExpired,
    MissionFailed,
    MissionOffered,
    MissionProgress,
    RelationshipChanged,
)
from server.gameplay.factions import FactionService
from server.gameplay.metrics import GameplayMetrics
from server.gameplay.missions import (
    History,
    MissionError,
    MissionService,
    MissionTracker,
    difficulty_for,
)
from server.gameplay.objectives import WorldView
from tests.gameplay.support import FixedGenerator, context, spec, view


class Clock:
    def __init__(self) -> None:
        self.now = time.time()  # the storage stamps its writes with the real clock

    def __call__(self) -> float:
        return self.now


class Rig:
    def __init__(self, p: Any, gen: Any = None, **kw: Any) -> None:
        self.p = p
        self.events: list[GameplayEvent] = []
        self.metrics = GameplayMetrics(CollectorRegistry())
        self.clock = Clock()
        self.factions = FactionService(p.repos, self.events.append, self.metrics)
        self.gen = gen or FixedGenerator()
        self.credits: list[tuple[str, int]] = []
        self.missions = MissionService(
            p.repos,
            self.gen,
            self.factions,
            self.events.append,
            self.metrics,
            clock=self.clock,
            credit=lambda pid, d: self.credits.append((pid, d)),
            **kw,
        )
        self.world: WorldView | None = None
        self.tracker = MissionTracker(self.missions, lambda: self.world)

    def of(self, kind: type) -> list[Any]:
        return [e for e in self.events if isinstance(e, kind)]

    def metric(self, name: str, labels: dict[str, str] | None = None) -> float:
        return self.metrics.registry.get_sample_value(name, labels or {}) or 0.0


async def _setup(p: Any, name: str = "cj") -> str:
    for f in ("ballas", "vagos"):
        await p.repos.factions.create(f)
    pid: str = (await p.repos.players.load_or_create(name)).player_id
    await p.repos.factions.join(pid, "ballas", "member")
    return pid


async def test_full_loop_completes_once_with_money_and_faction_change(persistence: Any) -> None:
    rig = Rig(persistence)
    pid = await _setup(persistence)
    offered = await rig.missions.offer(context(pid), CallerInfo(pid))
    assert isinstance(offered, MissionOffered) and offered.reward == 750
    mid = offered.mission_id
    assert rig.gen.contexts[0].difficulty_hint == 2  # a new player
    with pytest.raises(MissionError) as err:
        await rig.missions.complete(pid, mid)
    assert err.value.code == "not_accepted"
    await rig.missions.accept(pid, mid)
    with pytest.raises(MissionError) as err:
        await rig.missions.complete(pid, mid)  # the client claims it early: refused
    assert err.value.code == "incomplete"

    rig.world = view(rig.clock.now, {pid: (600, 0.0, 0.0)})
    assert rig.tracker.step() == 1
    assert rig.tracker.step() == 1
    assert len(rig.of(MissionProgress)) == 0  # nothing changed: nothing emitted
    rig.world = view(rig.clock.now, {pid: (600, 95.0, 0.0)})  # at the docks
    rig.tracker.step()
    (progress,) = rig.of(MissionProgress)
    assert progress.done == (True, False)
    rig.world = view(rig.clock.now, {pid: (600, 95.0, 0.0)}, talked={pid: {3}})
    rig.tracker.step()  # all verified: the tracker completes it
    await rig.tracker.idle()
    (done,) = rig.of(MissionCompleted)
    assert (done.reward, done.balance, done.faction_impact) == (750, 750, {"vagos": -15})
    again = await rig.missions.complete(pid, mid)  # the client's completion arrives too
    again2 = await rig.missions.complete(pid, mid)
    assert again.repeated and again2.repeated and again.balance == 750
    assert len(rig.of(MissionCompleted)) == 1
    assert (await persistence.repos.players.get(pid)).money == 750
    assert len(await persistence.repos.players.ledger(pid)) == 1
    rel = await rig.factions.relationship("ballas", "vagos")
    assert (rel.strength, rel.stance) == (-15, "neutral")
    (shift,) = rig.of(RelationshipChanged)
    assert (shift.previous_strength, shift.strength, shift.reason) == (0, -15, "mission")
    assert rig.credits == [(pid, 750)]  # the live player was credited once
    assert rig.metric("ganggpt_missions_completed_total") == 1
    assert rig.metric("ganggpt_mission_completion_repeats_total") == 2
    assert rig.metric("ganggpt_missions_generated_total", {"source": "model"}) == 1
    assert mid not in rig.missions.active
    # The next mission is harder: history now shows a completed difficulty-3 mission.
    await rig.missions.offer(context(pid), CallerInfo(pid))
    assert rig.gen.contexts[1].difficulty_hint == 3


async def test_failure_expiry_and_restore(persistence: Any) -> None:
    avoid = spec(
        objectives=[{"kind": "avoid_faction", "faction": "vagos", "distance_m": 30, "seconds": 60}]
    )
    rig = Rig(persistence, FixedGenerator(avoid), offer_ttl=60.0, max_open_offers=5)
    pid = await _setup(persistence)
    m1 = (await rig.missions.offer(context(pid), CallerInfo(pid))).mission_id
    m2 = (await rig.missions.offer(context(pid), CallerInfo(pid))).mission_id
    m3 = (await rig.missions.offer(context(pid), CallerInfo(pid))).mission_id
    await rig.missions.accept(pid, m1)
    await rig.missions.accept(pid, m3)
    # A vagos NPC walks up to the player: m1 and m3 fail.
    rig.world = view(rig.clock.now, {pid: (600, 0.0, 0.0)}, [(10.0, 0.0, "vagos")])
    rig.tracker.step()
    await rig.tracker.idle()
    assert {e.mission_id for e in rig.of(MissionFailed)} == {m1, m3}
    assert {e.reason for e in rig.of(MissionFailed)} == {"spotted_by:vagos"}
    assert (await persistence.repos.missions.offer_of(m1)).state == "failed"
    # m2 was never accepted: it expires after the offer TTL.
    rig.clock.now += 61
    rig.tracker.step()
    await rig.tracker.idle()
    (exp,) = rig.of(MissionExpired)
    assert (exp.mission_id, exp.state) == (m2, "offered")
    with pytest.raises(MissionError) as err:
        await rig.missions.accept(pid, m2)
    assert err.value.code == "not_offered"
    assert rig.metric("ganggpt_missions_failed_total", {"reason": "spotted_by"}) == 2
    assert rig.metric("ganggpt_missions_expired_total", {"state": "offered"}) == 1
    # Failures make the next one easier.
    history = await rig.missions.history(pid)
    assert (history.completed, history.failed) == (0, 2)
    assert difficulty_for(history) == 2

    # An accepted mission past its deadline expires; a restarted service finds it first.
    m4 = (await rig.missions.offer(context(pid), CallerInfo(pid))).mission_id
    await rig.missions.accept(pid, m4)
    fresh = Rig(persistence)
    fresh.clock.now = rig.clock.now
    assert await fresh.missions.restore() == 1 and m4 in fresh.missions.active
    fresh.clock.now += 3600
    fresh.tracker.step()
    await fresh.tracker.idle()
    assert [(e.mission_id, e.state) for e in fresh.of(MissionExpired)] == [(m4, "accepted")]


async def test_requests_for_someone_elses_mission_are_refused(persistence: Any) -> None:
    rig = Rig(persistence)
    pid = await _setup(persistence)
    other = (await persistence.repos.players.load_or_create("intruder")).player_id
    mid = (await rig.missions.offer(context(pid), CallerInfo(pid))).mission_id
    for call in (rig.missions.accept(other, mid), rig.missions.complete(other, mid)):
        with pytest.raises(MissionError) as err:
            await call
        assert err.value.code == "unknown_mission"
    with pytest.raises(MissionError):
        await rig.missions.accept(pid, "00000000-0000-0000-0000-000000000000")


async def test_offers_are_bounded_per_player(persistence: Any) -> None:
    rig = Rig(persistence, max_open_offers=2)
    pid = await _setup(persistence)
    for _ in range(2):
        await rig.missions.offer(context(pid), CallerInfo(pid))
    with pytest.raises(MissionError) as err:
        await rig.missions.offer(context(pid), CallerInfo(pid))
    assert err.value.code == "too_many_offers"


async def test_offline_ai_generates_playable_missions(persistence: Any, make_config: Any) -> None:
    ai = AiService.from_config(make_config(), CollectorRegistry())
    rig = Rig(persistence, ai)
    pid = await _setup(persistence)
    offered = await rig.missions.offer(context(pid), CallerInfo(pid))
    assert offered.source == "offline"
    offer = await persistence.repos.missions.offer_of(offered.mission_id)
    assert offer.spec["places"] == {"docks": [100.0, 0.0], "diner": [0.0, 100.0]}
    await rig.missions.accept(pid, offered.mission_id)
    assert rig.missions.active[offered.mission_id].objectives


@pytest.mark.parametrize(
    ("recent", "expected"),
    [
        ((), 2),
        ((("completed", 3),), 3),
        ((("completed", 4), ("completed", 4), ("completed", 4)), 5),
        ((("failed", 6), ("completed", 6)), 5),
        ((("expired", 1), ("failed", 1)), 1),
        ((("completed", 10),) * 5, 10),
    ],
)
def test_difficulty_follows_history(recent: tuple[tuple[str, int], ...], expected: int) -> None:
    h = History(sum(s == "completed" for s, _ in recent), 0, recent)
    assert difficulty_for(h) == expected
