"""The `who` lookup: names (and NPCs' roles and factions) of entities a client can see.

A plain function of the world, so the game layer can call it from whatever handler table it
keeps. Only entities in the asker's view are described: ids out of view are left out without
an error, so `who` cannot be used to scan the map (SPEC.md §4.2).
"""

from __future__ import annotations

from typing import Any

from protocol import control
from protocol.catalogue import EntityKind
from server.world.world import World


def who_reply(world: World, viewer: int, ids: list[int]) -> control.WhoReply:
    """The answer to `{"op":"who","ids":ids}` from the player with net id `viewer`."""
    view_cell = int(world.cell[viewer])
    grid = world.grid
    out: list[dict[str, Any]] = []
    seen: set[int] = set()
    for nid in ids:
        if nid in seen:
            continue
        seen.add(nid)
        if not grid.sees(view_cell, int(world.cell[nid])):
            continue
        kind = world.kind[nid]
        if kind == EntityKind.NPC:
            ident = world.identity(nid)
            if ident is not None:
                out.append(
                    {
                        "id": nid,
                        "kind": "npc",
                        "name": ident.name,
                        "role": ident.role,
                        "faction": ident.faction,
                    }
                )
        elif kind == EntityKind.PLAYER:
            name = world.players.names.get(nid)
            if name is not None:
                out.append({"id": nid, "kind": "player", "name": name})
    return control.WhoReply(entities=out)
