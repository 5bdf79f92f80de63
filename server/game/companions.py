"""The game's side of companions: `companion` requests, and what the owner hears.

The rules live in `server.gameplay.companions.CompanionService` (limits by tier, loyalty,
memory, persistence); in the world a summoned companion is an NPC that follows its player
through world commands (`SpawnNpc`, `Follow`, `Teleport`, `DespawnNpc`), applied by the next
tick. This module connects it to the game (SPEC §4.2 `companion`, §4.3 `event`):

- a request runs on a task of its own, one per player at a time (a second one meanwhile is
  refused `busy`); a refusal is an `error` 17 COMPANION_REFUSED whose message starts with the
  reason (`limit: 1 companion(s) at most...`).
- `summon` without an id and without companions creates the player's first one (`name`,
  `kind`, or defaults); with a `name` it creates another (within the tier's limit).
- the owner hears every change as an `event` of type `companion`; `info` answers with
  `companion.info`.
- a companion is an NPC: the player `talk`s to it on the ordinary streamed path, and the
  dialogue uses its persona and memories (`Conversations.companions`). How the owner speaks
  to it moves its loyalty (`TALK_TREATMENT`); talking to someone else's companion does not.
- a player who leaves takes their companion out of the world (summon it again on return);
  a player whose connection dropped and who resumes within the resume window gets back the
  companion that was out, following them again (a `companion` event, change `summoned`).
  What was out is remembered by this process only: a resume on another instance does not
  bring it back.
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Any

from protocol import control
from protocol.catalogue import ErrorCode
from server.game.events import NpcTalked, PlayerJoined, PlayerLeft
from server.game.player import Player
from server.game.requests import PlayerRequests
from server.gameplay.companions import CompanionChanged, CompanionError, CompanionService
from server.gameplay.dialogue_context import guess_outcome
from server.gameplay.memory import MemoryService
from server.persistence.models import Companion
from server.world.world import World

if TYPE_CHECKING:
    from server.game.core import Game

log = logging.getLogger("ganggpt.companions")

DEFAULT_NAME = "Buddy"
DEFAULT_KIND = "friend"
TALK_TREATMENT = {
    "friendly": "praised",
    "neutral": "talked",
    "rude": "scolded",
    "threat": "endangered",
}
"""How the owner spoke to their companion (the dialogue's outcome) -> its treatment."""


class CompanionDesk:
    def __init__(self, game: Game, memory: MemoryService) -> None:
        st = game.state
        cfg = st.config
        self.game = game
        self.service = CompanionService(
            st.persistence.repos,
            limit=cfg.companion_limit,
            premium_limit=cfg.companion_limit_premium,
            memory=memory,
            metrics=memory.metrics,
            emit=game.bus.publish,
        )
        self.requests = PlayerRequests("companion")
        # player id -> (companions that were out when the connection dropped, until when a
        # resume brings them back)
        self._away: dict[str, tuple[tuple[str, ...], float]] = {}
        bus = game.bus
        bus.subscribe(CompanionChanged, self._changed, name="companions")
        bus.subscribe(PlayerLeft, self._left, name="companions")
        bus.subscribe(PlayerJoined, self._joined, name="companions")
        bus.subscribe(NpcTalked, self._talked, name="companions")

    async def stop(self) -> None:
        await self.requests.stop()

    # --- requests --------------------------------------------------------------------------

    def handle(self, player: Player, msg: control.Companion) -> None:
        if not self.requests.run(player.player_id, lambda: self._serve(player, msg)):
            self.service.metrics.companions.labels(msg.action, "busy").inc()
            self._refuse(player, "busy", "too many of your companion requests are waiting")

    async def _serve(self, player: Player, msg: control.Companion) -> None:
        try:
            if msg.action == "summon":
                await self._summon(player, msg)
            elif msg.action == "dismiss":
                cid = await self._which(player, msg.id, summoned=True)
                if not self.service.dismiss(self.game.state.world, player.player_id, cid):
                    raise CompanionError("NOT_SUMMONED", "that companion is not in the world")
            elif msg.action == "recall":
                cid = await self._which(player, msg.id, summoned=False)
                await self.service.recall(self.game.state.world, player, cid)
            else:
                await self._info(player)
        except CompanionError as e:
            self._refuse(player, e.code.lower(), str(e))
        except Exception as e:
            log.warning("companion %s of %s failed: %r", msg.action, player, e)
            self.service.metrics.companions.labels(msg.action, "unavailable").inc()
            self._refuse(player, "unavailable", "companions are unavailable; try again later")

    async def _summon(self, player: Player, msg: control.Companion) -> None:
        svc = self.service
        cid = msg.id
        if cid is None:
            have = await svc.of_player(player.player_id)
            if msg.name is not None or not have:
                made = await svc.create(
                    player.player_id,
                    msg.name or DEFAULT_NAME,
                    msg.kind or DEFAULT_KIND,
                    permissions=player.permissions,
                )
                cid = made.companion_id
            else:
                cid = have[0].companion_id
        await svc.summon(self.game.state.world, player, cid)

    async def _which(self, player: Player, cid: str | None, *, summoned: bool) -> str:
        """The companion a dismiss or recall is about: the named one, else the one in the
        world, else (recall) the first one."""
        have = await self.service.of_player(player.player_id)
        if cid is not None:
            if not any(c.companion_id == cid for c in have):
                raise CompanionError("NOT_FOUND", "no such companion of this player")
            return cid
        out = [c.companion_id for c in have if self.service.summoned(c.companion_id) is not None]
        if out:
            return out[0]
        if summoned or not have:
            raise CompanionError("NOT_SUMMONED", "none of your companions is in the world")
        return have[0].companion_id

    async def _info(self, player: Player) -> None:
        have = await self.service.of_player(player.player_id)
        self._send(
            player,
            "companion.info",
            {
                "companions": [self._describe(c) for c in have],
                "limit": self.service.limit_for(player.permissions),
            },
        )

    def _describe(self, c: Companion) -> dict[str, Any]:
        return {
            "id": c.companion_id,
            "name": c.name,
            "kind": c.companion_type,
            "loyalty": c.loyalty_level,
            "experience": c.experience_points,
            "net_id": self.service.summoned(c.companion_id),
        }

    def _refuse(self, player: Player, reason: str, message: str) -> None:
        self.game.state.metrics.errors.labels(code=ErrorCode.COMPANION_REFUSED.name).inc()
        player.client.send(control.error(ErrorCode.COMPANION_REFUSED, f"{reason}: {message}"))

    def _send(self, player: Player, type_: str, data: dict[str, Any]) -> None:
        self.game.delivery.to_player(player, control.GameEvent(type=type_, data=data))

    # --- events ----------------------------------------------------------------------------

    def _changed(self, ev: CompanionChanged) -> None:
        player = self.game.state.players.get(ev.player_id)
        if player is None:
            return
        c = self.service.known(ev.player_id, ev.companion_id)
        data = {
            "id": ev.companion_id,
            "change": ev.change,
            "name": c.name if c is not None else None,
            "kind": c.companion_type if c is not None else None,
            "net_id": None if ev.change in ("dismissed", "left") else ev.nid,
            "loyalty": ev.loyalty,
            "experience": ev.experience,
        }
        self._send(player, "companion", data)

    def _left(self, ev: PlayerLeft) -> None:
        pid = ev.player.player_id
        now = time.time()
        for other, (_, until) in list(self._away.items()):
            if until <= now:
                del self._away[other]
        if ev.kept_for_resume:
            out = tuple(
                c.companion_id
                for c in self.service.owned(pid)
                if self.service.summoned(c.companion_id) is not None
            )
            if out:
                self._away[pid] = (out, now + self.game.state.config.resume_window)
        self.service.player_left(self.game.state.world, pid)

    def _joined(self, ev: PlayerJoined) -> None:
        away = self._away.pop(ev.player.player_id, None)
        if away is None or not ev.resumed or away[1] <= time.time():
            return
        player = ev.player
        cids = away[0]
        # Through the player's request queue: a `companion` request sent right after the
        # welcome is answered after the companion is back, not interleaved with it.
        if not self.requests.run(player.player_id, lambda: self._resummon(player, cids)):
            log.warning("companion of %s not brought back: requests busy", player)

    async def _resummon(self, player: Player, cids: tuple[str, ...]) -> None:
        for cid in cids:
            if not player.active:
                return
            try:
                await self.service.summon(self.game.state.world, player, cid)
            except CompanionError as e:
                log.info("companion of %s not brought back on resume: %s", player, e)

    def _talked(self, ev: NpcTalked) -> None:
        c = self.service.by_nid(ev.npc)
        player = ev.player
        if c is None or c.player_id != player.player_id:
            return
        how = TALK_TREATMENT[guess_outcome(ev.text)]
        world = self.game.state.world
        self.requests.background(lambda: self._treat(world, player, c.companion_id, how), "treat")

    async def _treat(self, world: World, player: Player, cid: str, how: str) -> None:
        await self.service.treat(world, player, cid, how)
