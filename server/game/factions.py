"""The game's side of factions: `faction` requests, members' live state, and what members hear.

The rules live in `server.gameplay.factions.FactionService` (ranks, permissions, hysteresis,
the `faction:{name}:state` cache through the persistence); this module connects it to the
game (SPEC §4.2 `faction`, §4.3 `event`):

- a request runs on a task of its own (storage awaits; one per player at a time, a second
  one meanwhile is refused `busy`), never on the tick. A refusal is an `error` 16
  FACTION_REFUSED whose message starts with the reason (`rank: your rank is too low...`).
- the service's events travel on the game's bus (its `emit` is `bus.publish`); inline
  subscribers here keep the connected players' `faction` and `rank` in step and send
  `faction` (to the player concerned), `faction.member` (to the other connected members),
  `faction.relation` (to the connected members of both factions) and `faction.news`.
- news lines (`FactionNews`, which NPCs' prompts read) are fed from the same events:
  membership changes, relationship changes (whoever caused them: a kill, a mission), and
  completed missions with a faction impact.
- a member killed by a member of another faction shifts the two factions' relationship
  (`member_killed`). There is no kill mechanic in v1: game modes and admin tools call it.
"""

from __future__ import annotations

import logging
from collections.abc import Collection
from typing import TYPE_CHECKING, Any

from protocol import control
from protocol.catalogue import FACTION_RANKS, ErrorCode
from server.game.events import PlayerJoined
from server.game.join import GUEST_PREFIX
from server.game.player import Player
from server.game.requests import PlayerRequests
from server.gameplay.dialogue_context import FactionNews
from server.gameplay.events import FactionChanged as MembershipChanged
from server.gameplay.events import MissionCompleted, RelationshipChanged
from server.gameplay.factions import (
    CREATE_PERMISSION,
    FactionError,
    FactionService,
    rank_level,
)
from server.gameplay.metrics import GameplayMetrics

if TYPE_CHECKING:
    from server.game.core import Game

log = logging.getLogger("ganggpt.factions")

INFO_MEMBERS = 100  # members listed in `faction.info` (the count is always exact)
INFO_NEWS = 5


def rank_name(level: int) -> str:
    return FACTION_RANKS[min(max(level, 0), len(FACTION_RANKS) - 1)]


class FactionDesk:
    def __init__(self, game: Game, news: FactionNews) -> None:
        st = game.state
        self.game = game
        self.news = news
        self.metrics = GameplayMetrics.for_registry(st.metrics.registry)
        self.service = FactionService(st.persistence.repos, game.bus.publish, self.metrics)
        self.requests = PlayerRequests("faction")
        news.on_add = self._news_added
        bus = game.bus
        bus.subscribe(PlayerJoined, self._joined, name="factions")
        bus.subscribe(MembershipChanged, self._membership_changed, name="factions")
        bus.subscribe(RelationshipChanged, self._relation_changed, name="factions")
        bus.subscribe(MissionCompleted, self._mission_completed, name="factions")

    async def stop(self) -> None:
        await self.requests.stop()

    # --- requests --------------------------------------------------------------------------

    def handle(self, player: Player, msg: control.Faction) -> None:
        if not self.requests.run(player.player_id, lambda: self._serve(player, msg)):
            self.metrics.faction_rejected.labels("busy").inc()
            self._refuse(player, "busy", "too many of your faction requests are waiting")

    def permissions(self, player: Player) -> Collection[str]:
        """The token's permissions; a guest may create when GUESTS_CREATE_FACTIONS says so."""
        perms = player.permissions
        if player.identity.guest and self.game.state.config.guests_create_factions:
            return perms | {CREATE_PERMISSION}
        return perms

    async def _serve(self, player: Player, msg: control.Faction) -> None:
        pid = player.player_id
        svc = self.service
        try:
            if msg.action == "create":
                assert msg.name is not None
                await svc.create(
                    pid, msg.name, msg.display_name, permissions=self.permissions(player)
                )
            elif msg.action == "join":
                assert msg.name is not None
                await svc.join(pid, msg.name)
            elif msg.action == "leave":
                await svc.leave(pid)
            elif msg.action == "promote":
                assert msg.player is not None
                await svc.promote(pid, msg.player)
            elif msg.action == "kick":
                assert msg.player is not None
                await svc.kick(pid, msg.player)
            else:
                await self._info(player, msg.name)
        except FactionError as e:
            self._refuse(player, e.code, str(e))
        except Exception as e:
            log.warning("faction %s of %s failed: %r", msg.action, player, e)
            self.metrics.faction_rejected.labels("unavailable").inc()
            self._refuse(player, "unavailable", "factions are unavailable; try again later")

    async def _info(self, player: Player, name: str | None) -> None:
        name = name or player.faction
        if name is None:
            raise self._counted("not_member", "not in a faction; name one to look at")
        state = await self.service.state(name)
        if state is None:
            raise self._counted("unknown_faction", f"no faction {name}")
        members = await self.service.members(name)
        online = self.game.state.players
        shown = members[:INFO_MEMBERS]
        offline = [m.player_id for m in shown if m.player_id not in online]
        stored = await self._stored_names(offline)
        listed: list[dict[str, Any]] = []
        for m in shown:
            live = online.get(m.player_id)
            level = rank_level(m.rank)
            listed.append(
                {
                    "player_id": m.player_id,
                    "name": live.name if live is not None else stored.get(m.player_id),
                    "rank": level,
                    "rank_name": rank_name(level),
                    "joined_at": m.joined_at,
                    "online": live is not None,
                }
            )
        relations = [
            {
                "faction": r.faction_b if r.faction_a == name else r.faction_a,
                "strength": r.strength,
                "stance": r.relationship_type,
            }
            for r in state.relationships
        ]
        data = {
            "name": state.name,
            "display_name": state.display_name,
            "created_at": state.created_at,
            "member_count": state.members,
            "members": listed,
            "relationships": relations,
            "news": list(self.news.recent(name, INFO_NEWS)),
        }
        self._send(player, "faction.info", data)

    async def _stored_names(self, player_ids: list[str]) -> dict[str, str]:
        """Offline members' names from storage, in one read. A guest's row holds no name
        it is shown by (only its storage name): it stays null, as does everyone's when
        storage cannot answer (the rest of the info is still worth sending)."""
        if not player_ids:
            return {}
        try:
            names = await self.game.state.persistence.repos.players.names(player_ids)
        except Exception as err:
            log.warning("names of offline faction members not read: %r", err)
            return {}
        return {pid: n for pid, n in names.items() if not n.startswith(GUEST_PREFIX)}

    def _counted(self, code: str, message: str) -> FactionError:
        self.metrics.faction_rejected.labels(code).inc()
        return FactionError(code, message)

    def _refuse(self, player: Player, reason: str, message: str) -> None:
        # Counted by reason in ganggpt_faction_requests_rejected_total (the service counts
        # its own); not against the client's error budget: the request was well-formed.
        self.game.state.metrics.errors.labels(code=ErrorCode.FACTION_REFUSED.name).inc()
        player.client.send(control.error(ErrorCode.FACTION_REFUSED, f"{reason}: {message}"))

    def _send(self, player: Player, type_: str, data: dict[str, Any]) -> None:
        self.game.delivery.to_player(player, control.GameEvent(type=type_, data=data))

    # --- a joining player's membership -------------------------------------------------------

    def _joined(self, ev: PlayerJoined) -> None:
        player = ev.player
        self.requests.background(lambda: self._load(player), "load")

    async def _load(self, player: Player) -> None:
        m = await self.service.membership(player.player_id)
        if m is None or not player.active:
            return
        player.faction, player.rank = m.faction, rank_level(m.rank)
        self._send(
            player,
            "faction",
            {
                "faction": m.faction,
                "rank": player.rank,
                "rank_name": rank_name(player.rank),
                "change": "loaded",
            },
        )

    # --- what members hear -----------------------------------------------------------------

    def _membership_changed(self, ev: MembershipChanged) -> None:
        gone = ev.change in ("left", "kicked")
        level = 0 if ev.rank is None else ev.rank
        player = self.game.state.players.get(ev.player_id)
        if player is not None:
            player.faction, player.rank = (None, 0) if gone else (ev.faction, level)
            self._send(
                player,
                "faction",
                {
                    "faction": player.faction,
                    "rank": player.rank,
                    "rank_name": rank_name(player.rank),
                    "change": ev.change,
                    "faction_name": ev.faction,
                    "actor_id": ev.actor_id,
                },
            )
        member = {
            "faction": ev.faction,
            "change": ev.change,
            "player_id": ev.player_id,
            "name": player.name if player is not None else None,
            "net_id": player.nid if player is not None else None,
            "rank": None if gone else level,
            "rank_name": None if gone else rank_name(level),
            "actor_id": ev.actor_id,
        }
        others = [
            q
            for q in self.game.state.players.values()
            if q.faction == ev.faction and q is not player
        ]
        self.game.delivery.to_players(others, control.GameEvent(type="faction.member", data=member))
        self.news.on_event(ev)

    def _relation_changed(self, ev: RelationshipChanged) -> None:
        data = {
            "faction_a": ev.faction_a,
            "faction_b": ev.faction_b,
            "strength": ev.strength,
            "previous_strength": ev.previous_strength,
            "stance": ev.stance,
            "previous_stance": ev.previous_stance,
            "reason": ev.reason,
        }
        both = (ev.faction_a, ev.faction_b)
        members = [p for p in self.game.state.players.values() if p.faction in both]
        self.game.delivery.to_players(
            members, control.GameEvent(type="faction.relation", data=data)
        )
        self.news.on_event(ev)

    def _mission_completed(self, ev: MissionCompleted) -> None:
        for faction, delta in ev.faction_impact.items():
            if delta < 0:
                self.news.add(faction, "Word is someone pulled a job against us", ev.at)
            elif delta > 0:
                self.news.add(faction, "Someone did us a favour on a job", ev.at)

    def _news_added(self, faction: str, text: str, at: float) -> None:
        self.game.delivery.to_faction(
            faction,
            control.GameEvent(
                type="faction.news", data={"faction": faction, "text": text, "at": at}
            ),
        )

    # --- hooks for what happens in the world --------------------------------------------------

    def member_killed(self, victim: Player, killer: Player, event_id: str) -> bool:
        """`killer` killed `victim`: when both are in (different) factions, their
        relationship shifts by the configured impact, once per `event_id`. Returns whether a
        shift was started."""
        a, b = victim.faction, killer.faction
        if a is None or b is None or a == b:
            return False
        self.requests.background(lambda: self._shift_kill(a, b, event_id), f"kill-{event_id}")
        return True

    async def _shift_kill(self, victim_faction: str, killer_faction: str, event_id: str) -> None:
        await self.service.member_killed(victim_faction, killer_faction, event_id=event_id)
