"""The repository additions gameplay needs, on every backend: faction members, relationship
shifts with stance hysteresis, the mission offer lifecycle, and the one-transaction,
exactly-once completion."""

from __future__ import annotations

import time
from typing import Any

import orjson
import pytest

from server.persistence.ops import CompleteMissionRewards, op_from_dict, op_to_dict
from server.persistence.repos import completion_key, money_event_of
from server.persistence.stance import DEFAULT_RULE
from server.persistence.storage import StateConflict


async def _relation(p: Any, a: str, b: str) -> tuple[int, str]:
    state = await p.repos.factions.state(a)
    for r in state.relationships:
        if {r.faction_a, r.faction_b} == {a, b}:
            return r.strength, r.relationship_type
    raise AssertionError(f"no relationship {a}/{b}")


async def test_members_in_join_order_with_ranks(persistence: Any) -> None:
    f = persistence.repos.factions
    await f.create("ballas", "Ballas")
    await f.create("vagos", "Vagos")
    a = await persistence.repos.players.load_or_create("a")
    b = await persistence.repos.players.load_or_create("b")
    await f.join(a.player_id, "ballas", "leader")
    await f.join(b.player_id, "ballas", "recruit")
    assert [(m.player_id, m.rank) for m in await f.members("ballas")] == [
        (a.player_id, "leader"),
        (b.player_id, "recruit"),
    ]
    await f.leave(b.player_id)
    assert [m.player_id for m in await f.members("ballas")] == [a.player_id]
    assert await f.members("vagos") == []


async def test_shift_clamps_derives_stance_and_applies_once(persistence: Any) -> None:
    f = persistence.repos.factions
    for name in ("ballas", "vagos"):
        await f.create(name)
    eid = await f.shift_relationship("vagos", "ballas", -50, reason="member_killed")
    assert await _relation(persistence, "ballas", "vagos") == (-50, "hostile")
    await f.shift_relationship("ballas", "vagos", -50, reason="again", event_id=eid)  # retry
    assert await _relation(persistence, "ballas", "vagos") == (-50, "hostile")
    await f.shift_relationship("ballas", "vagos", -15, reason="member_killed")
    assert await _relation(persistence, "ballas", "vagos") == (-65, "war")
    # Hysteresis: back to -45 is still war; only above -40 is the war over.
    await f.shift_relationship("ballas", "vagos", 20, reason="truce")
    assert await _relation(persistence, "ballas", "vagos") == (-45, "war")
    await f.shift_relationship("ballas", "vagos", 10, reason="truce")
    assert await _relation(persistence, "ballas", "vagos") == (-35, "hostile")
    await f.shift_relationship("ballas", "vagos", -500, reason="massacre")
    assert await _relation(persistence, "ballas", "vagos") == (-100, "war")
    state = await f.state("vagos")
    assert [(r.faction_a, r.faction_b) for r in state.relationships] == [("ballas", "vagos")]
    with pytest.raises(ValueError):
        await f.shift_relationship("ballas", "ballas", 5, reason="self")


async def _offer(p: Any, player_id: str, **kw: Any) -> str:
    args: dict[str, Any] = {
        "title": "Collect a debt",
        "spec": {"objectives": [{"kind": "talk_to_npc", "npc_id": 5}], "difficulty": 3},
        "difficulty": 3,
        "reward_pool": 400,
        "faction_impact": {"vagos": -10},
        "giver_faction": "ballas",
        "expires_at": time.time() + 600,
    }
    args.update(kw)
    mid: str = await p.repos.missions.offer(player_id, **args)
    return mid


async def test_offer_lifecycle(persistence: Any) -> None:
    m = persistence.repos.missions
    p = await persistence.repos.players.load_or_create("cj")
    mid = await _offer(persistence, p.player_id)
    o = await m.offer_of(mid)
    assert o is not None and o.state == "offered" and o.giver_faction == "ballas"
    assert o.spec["objectives"][0]["npc_id"] == 5 and o.accepted_at is None
    mission = await m.get(mid)
    assert mission is not None and mission.reward_pool == 400 and mission.difficulty == 3
    assert [x.mission_id for x in await m.open_offers()] == [mid]

    deadline = time.time() + 900
    await m.accept(mid, p.player_id, deadline=deadline)
    await m.accept(mid, p.player_id, deadline=deadline)  # a repeat is harmless
    o = await m.offer_of(mid)
    assert o.state == "accepted" and o.accepted_at is not None
    assert o.deadline == pytest.approx(deadline, abs=1e-3)
    assert [(a.mission_id, a.status) for a in await m.assignments(p.player_id)] == [(mid, "active")]

    await m.end(mid, p.player_id, "failed", "npc_gone")
    await m.end(mid, p.player_id, "failed", "npc_gone")  # replay
    o = await m.offer_of(mid)
    assert o.state == "failed" and o.reason == "npc_gone" and o.ended_at is not None
    assert (await m.assignments(p.player_id))[0].status == "failed"
    assert await m.open_offers() == []
    with pytest.raises(StateConflict):
        await m.accept(mid, p.player_id)
    with pytest.raises(StateConflict):
        await m.complete_with_rewards(mid, p.player_id, reward=400)
    with pytest.raises(ValueError):
        await m.end(mid, p.player_id, "completed", "nope")


async def test_expired_offer_cannot_be_accepted(persistence: Any) -> None:
    m = persistence.repos.missions
    p = await persistence.repos.players.load_or_create("late")
    mid = await _offer(persistence, p.player_id, expires_at=time.time() - 1)
    with pytest.raises(StateConflict):
        await m.accept(mid, p.player_id)
    await m.end(mid, p.player_id, "expired", "not accepted")
    assert (await m.offer_of(mid)).state == "expired"
    assert await m.offers(p.player_id) == [await m.offer_of(mid)]


async def test_completion_applies_money_and_shifts_once(persistence: Any) -> None:
    repos = persistence.repos
    for name in ("ballas", "vagos", "lspd"):
        await repos.factions.create(name)
    p = await repos.players.load_or_create("sweet")
    mid = await _offer(persistence, p.player_id)
    await repos.missions.accept(mid, p.player_id)
    assert not await repos.missions.completed(mid, p.player_id)
    shifts = [("vagos", "ballas", -30), ("ballas", "lspd", -5)]
    for _ in range(3):  # the client sends its completion three times
        await repos.missions.complete_with_rewards(mid, p.player_id, reward=400, shifts=shifts)
    assert await repos.missions.completed(mid, p.player_id)
    assert (await repos.players.get(p.player_id)).money == 400
    ledger = await repos.players.ledger(p.player_id)
    assert [(e.delta, e.event_id) for e in ledger] == [
        (400, money_event_of(completion_key(mid, p.player_id)))
    ]
    assert await _relation(persistence, "ballas", "vagos") == (-30, "hostile")
    assert await _relation(persistence, "ballas", "lspd") == (-5, "neutral")
    o = await repos.missions.offer_of(mid)
    assert o.state == "completed" and o.ended_at is not None
    a = (await repos.missions.assignments(p.player_id))[0]
    assert (a.status, a.reward_paid) == ("completed", 400)
    with pytest.raises(StateConflict):
        await repos.missions.end(mid, p.player_id, "failed", "too late")


async def test_completion_of_a_mission_not_accepted_changes_nothing(persistence: Any) -> None:
    repos = persistence.repos
    for name in ("ballas", "vagos"):
        await repos.factions.create(name)
    p = await repos.players.load_or_create("ryder")
    mid = await _offer(persistence, p.player_id)
    with pytest.raises(StateConflict):
        await repos.missions.complete_with_rewards(
            mid, p.player_id, reward=400, shifts=[("ballas", "vagos", -30)]
        )
    assert (await repos.players.get(p.player_id)).money == 0
    assert (await repos.factions.state("ballas")).relationships == ()
    assert not await repos.missions.completed(mid, p.player_id)
    # ...and the rolled-back claim does not block the real completion later.
    await repos.missions.accept(mid, p.player_id)
    await repos.missions.complete_with_rewards(mid, p.player_id, reward=400)
    assert (await repos.players.get(p.player_id)).money == 400


def test_gameplay_writes_survive_the_journal_encoding() -> None:
    op = CompleteMissionRewards(
        "complete:m:p", "m", "p", 10, "e", (("a", "b", -3),), DEFAULT_RULE.as_tuple(), 1.0
    )
    assert op_from_dict(orjson.loads(orjson.dumps(op_to_dict(op)))) == op
