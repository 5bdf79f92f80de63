"""Rumours on a real World: a witness tells faction-mates nearby (not other factions, not the far
away), with a lower weight and `told_by`; fan-out and rate are bounded; the listener's
dialogue context holds the rumour."""

from __future__ import annotations

from typing import Any

from prometheus_client import CollectorRegistry

from server.gameplay.dialogue_context import build_dialogue_context
from server.gameplay.memory import MemoryMetrics, MemoryService, MemorySettings, NotableEvent
from server.gameplay.rumours import RumourMill, RumourSettings
from tests.gameplay.memory_support import (
    PlayerRef,
    add_player,
    away,
    eventually,
    make_world,
    persistence,  # noqa: F401  (fixture)
    place_npc,
)


def shooting(
    x: float, y: float, player_id: str, summary: str = "Nico shot Big Bear's cousin"
) -> NotableEvent:
    return NotableEvent(kind="shooting", summary=summary, x=x, y=y, player_id=player_id, weight=80)


async def test_a_rumour_reaches_a_faction_mate(persistence: Any) -> None:  # noqa: F811
    repos = persistence.repos
    w = make_world()
    x, y = away(w)
    rec = await repos.players.load_or_create("Nico")
    witness = place_npc(w, x + 3, y, "Big Bear", "ballas")
    mate = place_npc(w, x + 120, y, "Ballas Mate", "ballas")  # beyond sight, within earshot
    rival = place_npc(w, x + 60, y, "Vagos Guy", "vagos")
    distant = place_npc(w, x + 1500, y, "Distant Baller", "ballas")
    w.step()
    clock = [100.0]
    registry = CollectorRegistry()
    mill = RumourMill(RumourSettings(fanout=4, radius=250.0, interval=60.0), clock=lambda: clock[0])
    mem = MemoryService(
        repos,
        MemorySettings(witness_radius=30.0),
        rumours=mill,
        metrics=MemoryMetrics(registry),
    )
    key = {n: w.identity(n).key for n in (witness, mate, rival, distant)}  # type: ignore[union-attr]
    got = mem.witness(w, shooting(x, y, rec.player_id))
    assert got.witnesses == (key[witness],)
    assert got.told == (key[mate],)

    async def mate_heard() -> bool:
        return len(await repos.npc_memory.recent(key[mate], rec.player_id)) == 1

    await eventually(mate_heard)
    [r] = await repos.npc_memory.recent(key[mate], rec.player_id)
    assert r.memory_type == "rumour"
    assert r.content["told_by"] == key[witness] and r.content["told_by_name"] == "Big Bear"
    assert r.emotional_weight == 48  # 80 x 0.6: second-hand news weighs less
    assert await repos.npc_memory.recent(key[rival]) == []
    assert await repos.npc_memory.recent(key[distant]) == []

    # The faction-mate can now bring it up with the player.
    me = PlayerRef(rec.player_id, add_player(w, x + 121, y), "Nico")
    w.step()
    ctx = await build_dialogue_context(w, repos, mate, me, "You know me?", memory=mem)
    assert ctx is not None
    assert any(m.text == "Big Bear told me: Nico shot Big Bear's cousin" for m in ctx.memories)

    # The same teller again within RUMOUR_INTERVAL: witnessed, but not spread.
    again = mem.witness(w, shooting(x, y, rec.player_id, "Nico came back armed"))
    assert again.witnesses == (key[witness],) and again.told == ()
    sample = registry.get_sample_value
    assert sample("ganggpt_rumours_total", {"outcome": "rate_limited"}) == 1
    assert sample("ganggpt_rumours_total", {"outcome": "spread"}) == 1
    clock[0] += 61
    assert mem.witness(w, shooting(x, y, rec.player_id, "Nico again")).told == (key[mate],)


def test_fanout_is_bounded_and_witnesses_are_not_told_again() -> None:
    from server.persistence.memory import MemoryPersistence

    repos = MemoryPersistence().repos
    w = make_world(npc_spawn_capacity=32)
    x, y = away(w)
    teller = place_npc(w, x, y, "Teller", "lost_mc")
    other_witness = place_npc(w, x + 1, y, "Also Saw It", "lost_mc")
    mates = [place_npc(w, x + 40 + i, y, f"Biker {i}", "lost_mc") for i in range(10)]
    loner = place_npc(w, x - 2, y, "No Gang")
    w.step()
    mill = RumourMill(RumourSettings(fanout=3, radius=250.0, interval=0.0))
    mem = MemoryService(repos, MemorySettings(witness_radius=10.0), rumours=mill)
    got = mem.witness(w, shooting(x, y, "p"))
    keys = {n: w.identity(n).key for n in [teller, other_witness, loner, *mates]}  # type: ignore[union-attr]
    assert set(got.witnesses) == {keys[teller], keys[other_witness], keys[loner]}
    # Each biker witness tells the 3 nearest mates not told yet; the loner has no faction.
    assert len(got.told) == 6 and len(set(got.told)) == 6
    assert set(got.told) <= {keys[m] for m in mates}
    assert mill.spread(w, mem, loner, shooting(x, y, "p")).outcome == "no_faction"
    assert (
        RumourMill(RumourSettings(fanout=0)).spread(w, mem, teller, shooting(x, y, "p")).outcome
        == "off"
    )
