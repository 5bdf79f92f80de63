"""Word spreads: what a player does to an NPC reaches that NPC's faction-mates as a rumour.

The mill (`server.gameplay.rumours.RumourMill`: nearest faction-mates within RUMOUR_RADIUS,
at most RUMOUR_FANOUT, one rumour per teller per RUMOUR_INTERVAL, weight x
RUMOUR_WEIGHT_FACTOR) is shared by two tellers:

- the memory service: witnesses of a notable event (`MemoryService.witness`) tell theirs;
- conversations (RUMOUR_ON_TALK): an NPC a player threatened, insulted or was friendly to
  tells its faction-mates once the reply is out (`NpcTalked`). A neutral exchange is not
  news. What the player actually said stays in the NPC's own memory; the rumour carries a
  third-person summary only, so a listener knows what happened, not the words.

Listeners remember it as a `rumour` memory, which their prompt shows when that player talks
to them. An NPC with no faction (companions, loners) has nobody to tell. Synchronous: one
bounded read of the world between ticks, and queued memory writes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from server.game.events import NpcTalked
from server.gameplay.dialogue_context import OUTCOME_WEIGHT, guess_outcome
from server.gameplay.memory import MemoryService, NotableEvent
from server.gameplay.rumours import RumourMill, RumourSettings, Told

if TYPE_CHECKING:
    from server.game.core import Game

SUMMARY = {
    "threat": "{player} threatened {npc}",
    "rude": "{player} insulted {npc}",
    "friendly": "{player} was good to {npc}",
}


class TalkRumours:
    def __init__(self, game: Game, memory: MemoryService) -> None:
        cfg = game.state.config
        self.game = game
        self.memory = memory
        self.mill = RumourMill(RumourSettings.from_config(cfg))
        memory.rumours = self.mill  # witnesses of events tell their faction-mates too
        if cfg.rumour_on_talk:
            game.bus.subscribe(NpcTalked, self._talked, name="rumours")

    def tell(self, npc: int, event: NotableEvent) -> Told:
        """NPC `npc` tells its faction-mates nearby about `event` (e.g. an AI action that
        shares a rumour)."""
        return self.mill.spread(self.game.state.world, self.memory, npc, event)

    def _talked(self, ev: NpcTalked) -> Told | None:
        outcome = guess_outcome(ev.text)
        template = SUMMARY.get(outcome)
        world = self.game.state.world
        ident = world.identity(ev.npc)
        pos = world.entity_xy(ev.npc)
        if template is None or ident is None or pos is None:
            return None
        summary = template.format(player=ev.player.name, npc=ident.name)
        event = NotableEvent(
            kind=f"player_{outcome}",
            summary=summary,
            x=pos[0],
            y=pos[1],
            player_id=ev.player.player_id,
            weight=OUTCOME_WEIGHT[outcome],
            actor_nid=ev.npc,
            data={"player_name": ev.player.name},
        )
        return self.tell(ev.npc, event)
