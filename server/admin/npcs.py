"""NPC commands: list, spawn, despawn, inspect and edit (persona, memories, relationships).

Spawning and despawning go through world commands (applied at the next tick); a persona edit
(the personality; name, role and faction are fixed while the NPC exists, SPEC §4.3) replaces
the NPC's identity in the world's directory (its stable key kept, so its memories and
relationships stay its own) and the next conversation uses it. Memories are written through
the game's MemoryService (the same queue as the NPC's own memories), relationships through
RelationshipService (so its cache agrees).
"""

from __future__ import annotations

import asyncio
import dataclasses
from typing import Any

import numpy as np

from server.admin.registry import AdminError, Ctx, command
from server.admin.schema import COORD, LIMIT, NPC, PLAYER, obj, text
from server.auth.permissions import AdminPermission as P
from server.gameplay.dialogue_context import personality_of
from server.gameplay.relationships import mood
from server.persistence.models import NpcMemory
from server.world.commands import DespawnNpc, SpawnNpc
from server.world.identity import NpcIdentity

SPAWN_WAIT = 2.0  # seconds to wait for the tick that applies a spawn
SLUG = {"type": "string", "pattern": "^[a-z0-9_]{1,40}$", "minLength": 1, "maxLength": 40}


def _slot(ctx: Ctx, ref: Any) -> int:
    """The world slot of a live NPC named by net id or stable key."""
    world = ctx.state.world
    if isinstance(ref, int) and not isinstance(ref, bool):
        slot = world.npc_slot(ref)
    else:
        slot = None
        for i, ident in world.identities.overrides.items():
            if ident.key == ref and world.npc_slot(world.npcs.first_id + i) is not None:
                slot = i
                break
        if slot is None and isinstance(ref, str) and ref.startswith("npc:"):
            parts = ref.split(":")
            if len(parts) == 3 and parts[2].isdigit() and len(parts[2]) < 9:
                i = int(parts[2])
                nid = world.npcs.first_id + i
                if world.npc_slot(nid) is not None and world.identities.get(i).key == ref:
                    slot = i
    if slot is None:
        raise AdminError("not_found", f"no NPC {ref!r}")
    return slot


def _row(ctx: Ctx, i: int) -> dict[str, Any]:
    world = ctx.state.world
    npcs = world.npcs
    ident = world.identities.get(i)
    b = npcs.bounds
    return {
        "npc_id": ident.key,
        "net_id": npcs.first_id + i,
        "name": ident.name,
        "role": ident.role,
        "faction": ident.faction,
        "x": float(npcs.x[i]),
        "y": float(npcs.y[i]),
        "z": float(b.min_z + int(npcs.qz[i]) * npcs.step_z),
    }


@command(
    "npcs.list",
    P.NPCS_MEMORY_READ,
    obj(
        {
            "near": obj(
                {
                    "x": COORD,
                    "y": COORD,
                    "radius": {"type": "number", "minimum": 0, "maximum": 20000},
                },
                ("x", "y", "radius"),
            ),
            "limit": LIMIT,
        }
    ),
    "Live NPCs (at most `limit`, default 200), nearest first when `near` is given.",
)
async def npcs_list(ctx: Ctx, args: dict[str, Any]) -> dict[str, Any]:
    npcs = ctx.state.world.npcs
    limit = int(args.get("limit", 200))
    alive = np.flatnonzero(npcs.alive[: npcs.n])
    near = args.get("near")
    if near is not None:
        dx = npcs.x[alive] - float(near["x"])
        dy = npcs.y[alive] - float(near["y"])
        d2 = dx * dx + dy * dy
        keep = d2 <= float(near["radius"]) ** 2
        alive, d2 = alive[keep], d2[keep]
        alive = alive[np.argsort(d2, kind="stable")]
    return {
        "npcs": [_row(ctx, int(i)) for i in alive[:limit]],
        "total": int(alive.size),
    }


@command(
    "npcs.spawn",
    P.NPCS_SPAWN,
    obj(
        {
            "x": COORD,
            "y": COORD,
            "z": COORD,
            "name": text(60),
            "role": SLUG,
            "faction": SLUG,
            "personality": text(2000),
        },
        ("x", "y", "z"),
    ),
    "Spawn an NPC (standing); what is not given is generated.",
    mutates=True,
)
async def npcs_spawn(ctx: Ctx, args: dict[str, Any]) -> dict[str, Any]:
    world = ctx.state.world
    nid = world.spawn(
        SpawnNpc(
            x=float(args["x"]),
            y=float(args["y"]),
            z=float(args["z"]),
            name=args.get("name"),
            role=args.get("role"),
            faction=args.get("faction"),
            personality=args.get("personality", ""),
        )
    )
    if nid is None:
        raise AdminError("failed", "the world refused the spawn (full, or off the map)")
    loop = asyncio.get_running_loop()
    end = loop.time() + SPAWN_WAIT
    while world.npc_slot(nid) is None and loop.time() < end:
        await asyncio.sleep(0.01)
    ident = world.identity(nid)
    ctx.target = ident.key if ident is not None else str(nid)
    return {"npc_id": None if ident is None else ident.key, "net_id": nid}


@command(
    "npcs.despawn",
    P.NPCS_DESPAWN,
    obj({"npc": NPC}, ("npc",)),
    "Remove an NPC from the world (its memories stay, under its key).",
    mutates=True,
)
async def npcs_despawn(ctx: Ctx, args: dict[str, Any]) -> dict[str, Any]:
    i = _slot(ctx, args["npc"])
    world = ctx.state.world
    ctx.target = world.identities.get(i).key
    if not world.submit(DespawnNpc(npc=world.npcs.first_id + i)):
        raise AdminError("failed", "the world refused the despawn (queue full)")
    return {"despawned": True}


def _memory(m: NpcMemory) -> dict[str, Any]:
    content = m.content if isinstance(m.content, dict) else {"text": str(m.content)}
    return {
        "memory_id": m.memory_id,
        "type": m.memory_type,
        "content": content.get("text", content),
        "weight": m.emotional_weight,
        "created_at": m.created_at,
        "expires_at": m.expires_at,
        "about": m.player_id,
    }


async def _inspect(ctx: Ctx, i: int) -> dict[str, Any]:
    world = ctx.state.world
    ident = world.identities.get(i)
    talks = ctx.state.game.talks
    repo = ctx.state.persistence.repos.npc_memory
    mems: dict[str, NpcMemory] = {}
    for group in (
        await talks.memory.candidates(ident.key, None),
        await repo.recent(ident.key, None, 50),
        await repo.important(ident.key, None, 50),
    ):
        for m in group:
            mems.setdefault(m.memory_id, m)
    memories = sorted(mems.values(), key=lambda m: m.created_at, reverse=True)
    about = list(dict.fromkeys(m.player_id for m in memories if m.player_id))[:20]
    rels = [await talks.relationships.get(ident.key, pid) for pid in about]
    return {
        "npc_id": ident.key,
        "net_id": world.npcs.first_id + i,
        "persona": {
            "name": ident.name,
            "role": ident.role,
            "faction": ident.faction,
            "personality": personality_of(ident),
            "seed": ident.seed,
            "mood": "calm",
        },
        "memories": [_memory(m) for m in memories[:100]],
        "relationships": [
            {
                "player": r.player_id,
                "value": r.affinity,
                "trust": r.trust,
                "conversations": r.conversations,
                "mood": mood(r),
            }
            for r in rels
        ],
    }


@command(
    "npcs.inspect",
    P.NPCS_MEMORY_READ,
    obj({"npc": NPC}, ("npc",)),
    "An NPC's persona, memories (newest first) and relationships with the players it remembers.",
)
async def npcs_inspect(ctx: Ctx, args: dict[str, Any]) -> dict[str, Any]:
    i = _slot(ctx, args["npc"])
    ctx.target = ctx.state.world.identities.get(i).key
    return await _inspect(ctx, i)


async def _find_memory(ctx: Ctx, key: str, memory_id: str) -> dict[str, Any]:
    """The stored content of one of the NPC's memories (a content edit keeps its other fields)."""
    talks = ctx.state.game.talks
    repo = ctx.state.persistence.repos.npc_memory
    for group in (
        await talks.memory.candidates(key, None),
        await repo.recent(key, None, 200),
        await repo.important(key, None, 200),
    ):
        for m in group:
            if m.memory_id == memory_id:
                return dict(m.content) if isinstance(m.content, dict) else {}
    raise AdminError("not_found", f"no memory {memory_id!r}")


WEIGHT = {"type": "integer", "minimum": 0, "maximum": 100}
VALUE = {"type": "integer", "minimum": -100, "maximum": 100}


@command(
    "npcs.edit",
    P.NPCS_MEMORY_EDIT,
    obj(
        {
            "npc": NPC,
            # Name, role and faction stay while the NPC exists: clients may cache them
            # (SPEC §4.3 `who`); to change those, despawn and spawn.
            "persona": obj({"personality": text(2000, 0)}, ("personality",)),
            "memory_add": obj(
                {
                    "type": {
                        "type": "string",
                        "pattern": "^[a-z0-9_]{1,50}$",
                        "minLength": 1,
                        "maxLength": 50,
                    },
                    "content": text(1000),
                    "weight": WEIGHT,
                    "about": PLAYER,
                    "ttl_s": {"type": "integer", "minimum": 60, "maximum": 10 * 365 * 86400},
                },
                ("type", "content"),
            ),
            "memory_edit": obj(
                {
                    "memory_id": {"type": "string", "minLength": 1, "maxLength": 64},
                    "weight": WEIGHT,
                    "content": text(1000),
                },
                ("memory_id",),
            ),
            "memory_delete": {"type": "string", "minLength": 1, "maxLength": 64},
            "relationship": obj(
                {
                    "player": {"type": "string", "minLength": 1, "maxLength": 64},
                    "value": VALUE,
                    "trust": VALUE,
                },
                ("player", "value"),
            ),
        },
        ("npc",),
    ),
    "Edit an NPC: persona (applies to its next conversation), add, change or delete a memory,"
    " set its relationship (affinity, optionally trust) with a player. Answers as npcs.inspect.",
    mutates=True,
)
async def npcs_edit(ctx: Ctx, args: dict[str, Any]) -> dict[str, Any]:
    i = _slot(ctx, args["npc"])
    world = ctx.state.world
    ident: NpcIdentity = world.identities.get(i)
    ctx.target = ident.key
    talks = ctx.state.game.talks
    persona = args.get("persona")
    if persona:
        world.identities.set(i, dataclasses.replace(ident, **persona))
    add = args.get("memory_add")
    if add is not None:
        about = add.get("about")
        if about is not None and not isinstance(about, str):
            from server.admin.players import live

            about = live(ctx, about).player_id
            ctx.target = ident.key
        ttl = add.get("ttl_s")
        mid = talks.memory.remember(
            ident.key,
            add["type"],
            add["content"],
            player_id=about,
            weight=int(add.get("weight", 50)),
            data={"by_admin": ctx.principal.username},
            ttl_seconds=None if ttl is None else float(ttl),
        )
        if mid is None:
            raise AdminError("failed", "the memory write queue is full; retry")
    change = args.get("memory_edit")
    if change is not None:
        content = None
        if "content" in change:
            old = await _find_memory(ctx, ident.key, change["memory_id"])
            content = {**old, "text": change["content"]}
        if not await talks.memory.edit(
            ident.key, change["memory_id"], weight=change.get("weight"), content=content
        ):
            raise AdminError("not_found", f"{ident.name} has no memory {change['memory_id']!r}")
    gone = args.get("memory_delete")
    if gone is not None and not await talks.memory.forget(ident.key, gone):
        raise AdminError("not_found", f"{ident.name} has no memory {gone!r}")
    rel = args.get("relationship")
    if rel is not None:
        await talks.relationships.set(
            ident.key, rel["player"], affinity=int(rel["value"]), trust=rel.get("trust")
        )
    return await _inspect(ctx, i)
