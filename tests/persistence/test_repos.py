"""The repositories game code uses (`persistence.repos.*`), one contract for every backend:
the persistence service over SQLite and PostgreSQL, and the in-memory persistence."""

from __future__ import annotations

import dataclasses
import time
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from config import Config
from server.persistence.api import GamePersistence
from server.persistence.memory import MemoryPersistence
from server.persistence.models import AiCall, AuditEntry, Companion, NpcRelationship
from server.persistence.service import PersistenceService
from tests.persistence.conftest import eventually


@pytest.fixture(params=["sqlite", "postgres", "memory"])
async def persistence(
    request: pytest.FixtureRequest, make_config: Callable[..., Config]
) -> AsyncIterator[GamePersistence]:
    p: Any
    if request.param == "memory":
        p = MemoryPersistence()
    elif request.param == "postgres":
        p = PersistenceService(
            make_config(database_url=request.getfixturevalue("pg_url")), CollectorRegistry()
        )
    else:
        p = PersistenceService(make_config(), CollectorRegistry())
    await p.start()
    try:
        yield p
    finally:
        await p.close()


async def test_players_and_money(persistence: GamePersistence) -> None:
    players = persistence.repos.players
    p = await players.load_or_create("niko")
    assert (await players.load_or_create("niko")).player_id == p.player_id
    got = await players.get(p.player_id)
    assert got is not None and got.name == "niko"
    eid = await players.change_money(p.player_id, 300, "job")
    await players.change_money(p.player_id, 300, "job", event_id=eid)  # a retry: applied once
    await players.change_money(p.player_id, -50, "fine")
    assert [(e.delta, e.balance_after) for e in await players.ledger(p.player_id)] == [
        (300, 300),
        (-50, 250),
    ]
    assert await players.get(str(uuid.uuid4())) is None


async def test_accounts(persistence: GamePersistence) -> None:
    p = await persistence.repos.players.load_or_create("roman")
    await persistence.repos.accounts.create(p.player_id, "$argon2id$x", "roman@example.com")
    acc = await persistence.repos.accounts.get(p.player_id)
    assert acc is not None and acc.email == "roman@example.com" and acc.password_hash
    assert await persistence.repos.accounts.get(str(uuid.uuid4())) is None


async def test_factions(persistence: GamePersistence) -> None:
    f = persistence.repos.factions
    a = await persistence.repos.players.load_or_create("a")
    await f.create("ballas", "Ballas")
    await f.create("vagos")
    await f.join(a.player_id, "ballas", "og")
    m = await f.membership(a.player_id)
    assert m is not None and (m.faction, m.rank) == ("ballas", "og")
    await f.set_relationship("ballas", "vagos", "war", -70)
    with pytest.raises(ValueError):
        await f.set_relationship("ballas", "vagos", "war", -170)
    st = await f.state("ballas")
    assert st is not None and st.members == 1 and st.relationships[0].strength == -70
    await f.leave(a.player_id)
    assert await f.membership(a.player_id) is None
    st = await f.state("vagos")
    assert st is not None and st.display_name == "vagos"


async def test_missions(persistence: GamePersistence) -> None:
    ms = persistence.repos.missions
    p = await persistence.repos.players.load_or_create("cj")
    mid = await ms.create("Drive-by", difficulty=4, reward_pool=900, faction_impact={"grove": 3})
    with pytest.raises(ValueError):
        await ms.create("bad", difficulty=11)
    m = await ms.get(mid)
    assert m is not None and m.title == "Drive-by" and m.faction_impact == {"grove": 3}
    await ms.assign(mid, p.player_id)
    await ms.complete(mid, p.player_id, reward=900)
    [a] = await ms.assignments(p.player_id)
    assert a.status == "completed" and a.reward_paid == 900
    assert (await persistence.repos.players.ledger(p.player_id))[0].delta == 900


async def test_companions(persistence: GamePersistence) -> None:
    p = await persistence.repos.players.load_or_create("owner")
    cid = str(uuid.uuid4())
    await persistence.repos.companions.save(Companion(cid, p.player_id, "Chop", "dog", {"x": 1}))
    await persistence.repos.companions.save(
        Companion(cid, p.player_id, "Chop", "dog", {"x": 1}, experience_points=40)
    )
    [c] = await persistence.repos.companions.of_player(p.player_id)
    assert c.name == "Chop" and c.experience_points == 40


async def test_npc_memory(persistence: GamePersistence) -> None:
    mem = persistence.repos.npc_memory
    p = await persistence.repos.players.load_or_create("talker")
    with pytest.raises(ValueError):
        mem.add("npc-1", "talk", {}, emotional_weight=101)
    ids = [mem.add("npc-1", "talk", {"n": i}, player_id=p.player_id) for i in range(3)]
    assert all(ids)
    mem.add("npc-1", "gone", {"n": -1}, expires_at=time.time() - 1)

    async def three() -> bool:
        return len(await mem.recent("npc-1", p.player_id)) == 3

    await eventually(three, 10, "three memories")
    assert [m.content["n"] for m in await mem.recent("npc-1", p.player_id)] == [2, 1, 0]


async def test_ai_calls_are_recorded_without_waiting(persistence: GamePersistence) -> None:
    ai = persistence.repos.ai_calls
    p = await persistence.repos.players.load_or_create("asker")
    call = AiCall("openai", "gpt-4o-mini", "npc_dialogue", "abc", 120, 30, 420, "ok",
                  player_id=p.player_id, npc_id="npc-9")  # fmt: skip
    assert ai.record(call) is True  # a plain call: nothing to await
    assert ai.record(AiCall("x", "m", "p", "h", 1, 1, 1, "maybe")) is False  # type: ignore[arg-type]
    assert ai.record(AiCall("x", "m", "p", "h", -1, 1, 1, "ok")) is False

    async def stored() -> bool:
        return len(await ai.recent(player_id=p.player_id)) == 1

    await eventually(stored, 10, "the AI call row")
    [got] = await ai.recent(npc_id="npc-9")
    assert got.created_at == pytest.approx(call.created_at, abs=1e-5)  # PostgreSQL: microseconds
    assert dataclasses.replace(got, created_at=call.created_at) == call


async def test_audit_is_durable_when_append_returns(persistence: GamePersistence) -> None:
    audit = persistence.repos.audit
    e = AuditEntry("admin", "teleport", "player-7", {"to": [1, 2, 3]}, "ok")
    await audit.append(e)
    # No waiting: the row is stored when append returns.
    [got] = await audit.recent()
    assert got.created_at == pytest.approx(e.created_at, abs=1e-5)
    assert dataclasses.replace(got, created_at=e.created_at) == e


async def test_npc_memory_upkeep(persistence: GamePersistence) -> None:
    mem = persistence.repos.npc_memory
    p = await persistence.repos.players.load_or_create("remembered")
    for w in (20, 80, 50):
        mem.add("npc-u", "talk", {"w": w}, player_id=p.player_id, emotional_weight=w)

    async def three() -> bool:
        return len(await mem.recent("npc-u", p.player_id)) == 3

    await eventually(three, 10, "three memories")
    assert [m.content["w"] for m in await mem.important("npc-u", p.player_id)] == [80, 50, 20]
    with pytest.raises(ValueError):
        await mem.decay(1.5, 5, time.time())
    assert await mem.decay(0.5, 15, time.time() + 1) == 3
    # (by player: the NPC's unfiltered latest 20 are cached for up to the cache TTL)
    got = await mem.recent("npc-u", p.player_id)
    assert sorted(m.emotional_weight for m in got) == [15, 25, 40]
    assert await mem.prune(time.time(), time.time() + 1) == 3
    assert await mem.recent("npc-u", p.player_id) == []


async def test_npc_relationships(persistence: GamePersistence) -> None:
    rels = persistence.repos.npc_relationships
    p = await persistence.repos.players.load_or_create("liked")
    assert await rels.get("pin:rosa", p.player_id) is None
    await rels.save(NpcRelationship("pin:rosa", p.player_id, 40, 10, 3, time.time()))
    got = await rels.get("pin:rosa", p.player_id)
    assert got is not None and (got.affinity, got.trust, got.conversations) == (40, 10, 3)
    with pytest.raises(ValueError):
        await rels.save(NpcRelationship("pin:rosa", p.player_id, 101, 0, 0, time.time()))
