"""NPCs that follow a player for a while (a faction's backup, an escort) and are let go."""

from __future__ import annotations

from collections.abc import Iterable

from server.world.commands import WalkTo
from server.world.world import World


def release_followers(world: World, npcs: Iterable[int], target: int) -> None:
    """Each NPC still following net id `target` goes back to wandering where it stands; an
    NPC given another command since, or gone, is left alone."""
    for n in npcs:
        slot = world.npc_slot(n)
        pos = world.entity_xy(n)
        if slot is not None and pos is not None and int(world.follow.target[slot]) == target:
            world.submit(WalkTo(npc=n, x=pos[0], y=pos[1], then_wander=True))
