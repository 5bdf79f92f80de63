"""Companions on a real World (no sockets) and every storage backend: a summoned companion
follows its player (PATH records re-aimed as the player moves), despawns on dismiss, comes
back on recall; limits per tier; loyalty moves with treatment and is stored; its dialogue
uses its own stable key and memory."""

from __future__ import annotations

import math
from typing import Any

import pytest

from server.gameplay.companions import LOYALTY, CompanionError, CompanionService, companion_key
from server.gameplay.dialogue_context import build_dialogue_context
from server.gameplay.memory import MemoryService
from server.persistence.memory import MemoryPersistence
from tests.gameplay.memory_support import (
    PlayerRef,
    add_player,
    away,
    eventually,
    make_world,
    persistence,  # noqa: F401  (fixture)
)


async def test_a_summoned_companion_follows_and_despawns_on_dismiss(persistence: Any) -> None:  # noqa: F811
    repos = persistence.repos
    w = make_world()
    x, y = away(w)
    rec = await repos.players.load_or_create("Franklin")
    me = PlayerRef(rec.player_id, add_player(w, x, y), "Franklin")
    w.step()
    svc = CompanionService(repos, memory=MemoryService(repos))
    chop = await svc.create(rec.player_id, "Chop", "dog", "A rottweiler who loves the hood")
    nid = await svc.summon(w, me, chop.companion_id)
    w.step()
    ident = w.identity(nid)
    assert ident is not None and ident.name == "Chop" and ident.role == "companion"
    assert w.follow.count == 1
    assert svc.by_nid(nid) == chop

    # The player walks east: the companion's path is re-aimed, and it keeps up.
    reaimed = 0
    for k in range(1, 600):
        w.players.place(me.nid, x + 0.05 * k, y, 0.0, 0.0)  # 3 m/s
        if nid in w.step().path_ids.tolist():
            reaimed += 1
    assert reaimed >= 3
    i = nid - w.npcs.first_id
    px = float(w.players.x[me.nid])
    assert math.hypot(w.npcs.x[i] - px, w.npcs.y[i] - y) < 8.0

    assert svc.dismiss(w, rec.player_id, chop.companion_id)
    w.step()
    assert w.identity(nid) is None and w.follow.count == 0
    assert svc.summoned(chop.companion_id) is None
    assert not svc.dismiss(w, rec.player_id, chop.companion_id)  # already home

    # Recall after a dismiss summons it again, next to the player.
    again = await svc.recall(w, me, chop.companion_id)
    w.step()
    j = again - w.npcs.first_id
    assert w.identity(again) is not None
    assert math.hypot(w.npcs.x[j] - px, w.npcs.y[j] - y) < 5.0

    # A fresh service (restart) reads the companion back from storage.
    [stored] = await CompanionService(repos).of_player(rec.player_id)
    assert stored.name == "Chop" and stored.companion_type == "dog"


async def test_recall_teleports_a_companion_left_behind() -> None:
    repos = MemoryPersistence().repos
    w = make_world()
    x, y = away(w)
    rec = await repos.players.load_or_create("Lamar")
    me = PlayerRef(rec.player_id, add_player(w, x, y), "Lamar")
    w.step()
    svc = CompanionService(repos)
    c = await svc.create(rec.player_id, "Stretch", "bodyguard")
    nid = await svc.summon(w, me, c.companion_id)
    w.step()
    w.players.place(me.nid, x - 300, y, 0.0, 0.0)  # the player drove off
    w.step()
    assert await svc.recall(w, me, c.companion_id) == nid
    w.step()
    i = nid - w.npcs.first_id
    assert math.hypot(w.npcs.x[i] - (x - 300), w.npcs.y[i] - y) < 5.0
    assert w.follow.count == 1


async def test_limits_per_tier(persistence: Any) -> None:  # noqa: F811
    repos = persistence.repos
    free = await repos.players.load_or_create("free")
    rich = await repos.players.load_or_create("rich")
    svc = CompanionService(repos, limit=1, premium_limit=3)
    await svc.create(free.player_id, "One", "dog")
    with pytest.raises(CompanionError) as err:
        await svc.create(free.player_id, "Two", "dog")
    assert err.value.code == "LIMIT"
    premium = frozenset({"play:game", "ai:premium"})
    for name in ("A", "B", "C"):
        await svc.create(rich.player_id, name, "driver", permissions=premium)
    with pytest.raises(CompanionError) as err:
        await svc.create(rich.player_id, "D", "driver", permissions=premium)
    assert err.value.code == "LIMIT"
    for bad in ("", " ", "x" * 33, "bad\nname"):
        with pytest.raises(CompanionError):
            await svc.create(rich.player_id, bad, "dog", permissions=premium)
    with pytest.raises(CompanionError) as err:
        await svc.create(rich.player_id, "Ok", "dragon", permissions=premium)
    assert err.value.code == "BAD_TYPE"


async def test_loyalty_follows_treatment_and_is_stored(persistence: Any) -> None:  # noqa: F811
    repos = persistence.repos
    w = make_world()
    x, y = away(w)
    rec = await repos.players.load_or_create("Trevor")
    me = PlayerRef(rec.player_id, add_player(w, x, y), "Trevor")
    w.step()
    events: list[Any] = []
    mem = MemoryService(repos)
    svc = CompanionService(repos, memory=mem, emit=events.append)
    c = await svc.create(rec.player_id, "Floyd", "friend", "Anxious, easily hurt")
    c = await svc.treat(w, me, c.companion_id, "gift")
    assert c.loyalty_level == 50 + LOYALTY["gift"]
    c = await svc.treat(w, me, c.companion_id, "mission_done")
    assert c.experience_points == 50 and c.loyalty_level == 55
    nid = await svc.summon(w, me, c.companion_id)
    w.step()
    c = await svc.treat(w, me, c.companion_id, "shot")
    c = await svc.treat(w, me, c.companion_id, "shot")
    assert c.loyalty_level == 5
    c = await svc.treat(w, me, c.companion_id, "hit")
    assert c.loyalty_level == 0  # clamped
    w.step()
    assert w.identity(nid) is None  # it left
    assert [e.change for e in events][-2:] == ["dismissed", "left"]
    with pytest.raises(CompanionError) as err:
        await svc.summon(w, me, c.companion_id)
    assert err.value.code == "REFUSES"
    c = await svc.rename(rec.player_id, c.companion_id, "  Floyd   Hebert ")
    assert c.name == "Floyd Hebert"
    [stored] = await CompanionService(repos).of_player(rec.player_id)
    assert (stored.loyalty_level, stored.experience_points, stored.name) == (0, 50, "Floyd Hebert")
    assert stored.memory_data is not None and stored.memory_data["treated"]["shot"] == 2

    # Its memory is under its own key, whatever net id it had.
    async def remembers() -> bool:
        got = await repos.npc_memory.recent(companion_key(c.companion_id), rec.player_id)
        return any(m.content["text"] == "Trevor shot me." for m in got)

    await eventually(remembers)


async def test_a_companion_talks_as_itself_with_its_memory() -> None:
    repos = MemoryPersistence().repos
    w = make_world()
    x, y = away(w)
    rec = await repos.players.load_or_create("Michael")
    me = PlayerRef(rec.player_id, add_player(w, x, y), "Michael")
    w.step()
    mem = MemoryService(repos)
    svc = CompanionService(repos, memory=mem)
    c = await svc.create(rec.player_id, "Jimmy", "friend", "Lazy, wants to be a rapper")
    nid = await svc.summon(w, me, c.companion_id)
    w.step()
    await svc.treat(w, me, c.companion_id, "praised")
    ctx = await build_dialogue_context(w, repos, nid, me, "Ready?", memory=mem, companions=svc)
    assert ctx is not None
    assert ctx.persona.npc_id == companion_key(c.companion_id)
    assert ctx.persona.name == "Jimmy" and "rapper" in ctx.persona.personality
    assert ctx.persona.faction is None and ctx.faction_events == ()
    assert any(m.text == "Michael praised me." for m in ctx.memories)
