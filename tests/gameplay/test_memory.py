"""NPC memory on a real World and every storage backend: a conversation is in the next
dialogue context, an NPC recalls only what it witnessed, memories decay and are pruned, the
token budget counts what it leaves out, relationships move with conversation outcomes."""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import pytest

from server.gameplay.dialogue_context import (
    FactionNews,
    build_dialogue_context,
    guess_outcome,
    remember_conversation,
)
from server.gameplay.events import RelationshipChanged
from server.gameplay.memory import (
    MemoryService,
    MemorySettings,
    NotableEvent,
    nearest_npcs,
    retention_cutoff,
)
from server.gameplay.relationships import AMOUNTS, RelationshipService
from tests.gameplay.memory_support import (
    PlayerRef,
    add_player,
    away,
    eventually,
    make_world,
    persistence,  # noqa: F401  (fixture)
    place_npc,
)


def texts(ctx: Any) -> list[str]:
    return [m.text for m in ctx.memories]


async def test_a_conversation_is_in_the_next_dialogue_context(persistence: Any) -> None:  # noqa: F811
    repos = persistence.repos
    w = make_world()
    x, y = away(w)
    rec = await repos.players.load_or_create("Nico")
    me = PlayerRef(rec.player_id, add_player(w, x, y), "Nico")
    rosa = place_npc(w, x + 2, y, "Rosa Vega", "vagos")
    w.step()
    mem, rels = MemoryService(repos), RelationshipService(repos.npc_relationships)
    first = await build_dialogue_context(
        w, repos, rosa, me, "Seen my red bandana?", memory=mem, relationships=rels
    )
    assert first is not None and first.memories == ()
    assert first.persona.name == "Rosa Vega" and first.persona.faction == "vagos"
    assert first.persona.npc_id == w.identity(rosa).key  # type: ignore[union-attr]
    assert first.relationship.conversations == 0
    await remember_conversation(
        mem, rels, first, "Haven't seen it, ask at the docks.", outcome="friendly"
    )

    # The same service knows it at once (before the write-behind has stored it)...
    again = await build_dialogue_context(
        w, repos, rosa, me, "Thanks", memory=mem, relationships=rels
    )
    assert again is not None
    assert any("red bandana" in t and "docks" in t for t in texts(again))
    assert again.relationship.conversations == 1
    assert again.relationship.trust == AMOUNTS["friendly"][1]

    # ...and a new one (another process, a restart) reads it back from storage.
    async def stored() -> bool:
        ctx = await build_dialogue_context(w, repos, rosa, me, "Hi", memory=MemoryService(repos))
        return ctx is not None and any("red bandana" in t for t in texts(ctx))

    await eventually(stored)
    got = await repos.npc_relationships.get(first.persona.npc_id, me.player_id)
    assert got is not None and got.conversations == 1


async def test_an_npc_recalls_only_what_it_witnessed(persistence: Any) -> None:  # noqa: F811
    repos = persistence.repos
    w = make_world()
    x, y = away(w)
    rec = await repos.players.load_or_create("Nico")
    near = place_npc(w, x + 5, y, "Near Witness")
    far = place_npc(w, x + 200, y, "Far Away")
    w.step()
    mem = MemoryService(repos, MemorySettings(witness_radius=30.0))
    seen = mem.witness(
        w,
        NotableEvent(
            kind="shooting",
            summary="Nico shot at a car outside the laundromat",
            x=x,
            y=y,
            player_id=rec.player_id,
            weight=80,
        ),
    )
    near_key = w.identity(near).key  # type: ignore[union-attr]
    far_key = w.identity(far).key  # type: ignore[union-attr]
    assert seen.witnesses == (near_key,)
    me = PlayerRef(rec.player_id, add_player(w, x, y), "Nico")
    w.step()
    fresh = MemoryService(repos)

    async def near_knows() -> bool:
        ctx = await build_dialogue_context(w, repos, near, me, "Hey", memory=fresh)
        return ctx is not None and any("laundromat" in t for t in texts(ctx))

    await eventually(near_knows)
    ctx = await build_dialogue_context(w, repos, far, me, "Hey", memory=fresh)
    assert ctx is not None and not any("laundromat" in t for t in texts(ctx))
    [m] = await repos.npc_memory.recent(near_key, rec.player_id)
    assert m.memory_type == "event" and m.emotional_weight == 80
    assert await repos.npc_memory.recent(far_key) == []


def test_witnesses_are_the_nearest_living_npcs_in_the_radius() -> None:
    w = make_world(npc_count=200, spawn_area_size=200.0)
    w.step()
    cx, cy = w.npcs.x[0], w.npcs.y[0]
    got = nearest_npcs(w, cx, cy, 40.0, 5)
    d = np.hypot(w.npcs.x - cx, w.npcs.y - cy)
    want = [int(i) + w.npcs.first_id for i in np.argsort(d, kind="stable") if d[i] <= 40.0][:5]
    assert got == want
    assert nearest_npcs(w, cx, cy, 40.0, 5, exclude=[got[0]])[:4] == got[1:5]


async def test_decay_and_pruning(persistence: Any) -> None:  # noqa: F811
    repos = persistence.repos
    rec = await repos.players.load_or_create("Nico")
    now = time.time()
    s = MemorySettings(decay=0.5, decay_floor=10, retention_months=1, hour_seconds=60.0)
    clock = [now]
    mem = MemoryService(repos, s, clock=lambda: clock[0])
    mem.remember("npc:t:1", "event", "A big fight.", player_id=rec.player_id, weight=80)
    mem.remember("npc:t:1", "event", "Small talk.", player_id=rec.player_id, weight=12)
    mem.remember("npc:t:1", "event", "Gone soon.", player_id=rec.player_id, ttl_seconds=60)

    async def stored() -> bool:
        return len(await repos.npc_memory.recent("npc:t:1", rec.player_id)) == 3

    await eventually(stored)
    # Not a game day old yet: nothing decays.
    assert (await mem.upkeep(now)).decayed == 0
    clock[0] = now + s.day_seconds + 1  # a game day later (24 minutes here)
    done = await mem.upkeep()
    assert done.decayed == 2 and done.pruned == 1  # the expired one went
    weights = {m.content["text"]: m.emotional_weight for m in await mem.candidates("npc:t:1", None)}
    assert weights == {"A big fight.": 40, "Small talk.": 10}
    # Retention: two months on, everything created before last month's start goes.
    later = now + 62 * 86400
    cutoff = retention_cutoff(later, 1)
    assert cutoff is not None and now < cutoff
    done = await mem.upkeep(later)
    assert done.pruned == 2
    assert await repos.npc_memory.recent("npc:t:1", rec.player_id) == []


def test_retention_cutoff_is_a_month_start() -> None:
    t = time.mktime((2026, 11, 17, 12, 0, 0, 0, 0, 0))
    c = retention_cutoff(t, 6)
    assert c is not None and time.gmtime(c)[:3] == (2026, 5, 1)
    assert time.gmtime(retention_cutoff(t, 11) or 0)[:3] == (2025, 12, 1)
    assert retention_cutoff(t, 0) is None


async def test_the_token_budget_counts_what_it_leaves_out(persistence: Any) -> None:  # noqa: F811
    repos = persistence.repos
    rec = await repos.players.load_or_create("Nico")
    mem = MemoryService(repos)
    for i in range(12):
        mem.remember(
            "npc:b:1",
            "event",
            f"Memory number {i} about the heist at the Pacific Standard bank vault.",
            player_id=rec.player_id,
            weight=30 + i,
        )

    async def stored() -> bool:
        return len(await repos.npc_memory.recent("npc:b:1", rec.player_id)) == 12

    await eventually(stored)
    sel = await mem.recall("npc:b:1", rec.player_id, "the bank heist", budget_tokens=60)
    assert 0 < len(sel.included) < 12
    assert sel.left_out == 12 - len(sel.included)
    assert sel.tokens_used <= 60


async def test_relationships_move_with_outcomes_and_show_as_mood(persistence: Any) -> None:  # noqa: F811
    repos = persistence.repos
    w = make_world()
    x, y = away(w)
    rec = await repos.players.load_or_create("Nico")
    me = PlayerRef(rec.player_id, add_player(w, x, y), "Nico")
    npc = place_npc(w, x + 1, y, "Tony")
    w.step()
    events: list[Any] = []
    mem = MemoryService(repos)
    rels = RelationshipService(repos.npc_relationships, emit=events.append)
    ctx = await build_dialogue_context(
        w, repos, npc, me, "I'll kill you", memory=mem, relationships=rels
    )
    assert ctx is not None
    assert guess_outcome(ctx.player_text) == "threat"
    for _ in range(3):
        await remember_conversation(mem, rels, ctx, "Back off.")
    await rels.change(ctx.persona.npc_id, me.player_id, "attacked")
    after = await build_dialogue_context(w, repos, npc, me, "Sorry", memory=mem, relationships=rels)
    assert after is not None
    assert after.relationship.trust == 3 * AMOUNTS["threat"][1] + AMOUNTS["attacked"][1]
    assert after.persona.mood == "hostile"  # affinity -70
    assert after.relationship.conversations == 3
    assert [e.reason for e in events] == ["threat"] * 3 + ["attacked"]
    heavy = await mem.candidates(ctx.persona.npc_id, me.player_id)
    assert all(m.emotional_weight == 75 for m in heavy)  # threats stick
    with pytest.raises(ValueError):
        await rels.change(ctx.persona.npc_id, me.player_id, "tickled")
    # Fresh services read the same relationship back from storage.
    again = await RelationshipService(repos.npc_relationships).get(ctx.persona.npc_id, me.player_id)
    assert (again.affinity, again.trust) == (-70, -48)


async def test_faction_news_reach_the_prompt(persistence: Any) -> None:  # noqa: F811
    repos = persistence.repos
    w = make_world()
    x, y = away(w)
    rec = await repos.players.load_or_create("Nico")
    me = PlayerRef(rec.player_id, add_player(w, x, y), "Nico")
    npc = place_npc(w, x + 1, y, "Big Bear", "ballas")
    w.step()
    news = FactionNews(per_faction=2)
    news.on_event(
        RelationshipChanged(
            at=1.0,
            faction_a="ballas",
            faction_b="grove_street_families",
            strength=-80,
            previous_strength=-40,
            stance="war",
            previous_stance="hostile",
            reason="member_killed",
        )
    )
    news.add("vagos", "The Vagos lost a stash")
    ctx = await build_dialogue_context(w, repos, npc, me, "What's new?", news=news)
    assert ctx is not None
    assert ctx.faction_events == ("The ballas and the grove street families are now at war",)
