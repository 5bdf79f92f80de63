"""`Game`: the game layer of one server, and its entry points for the transport.

The connection calls `dispatch` for every decoded JSON message and `movement.on_input` for
every INPUT frame of a playing client, `join.begin` for a hello and `join.leave` when it
closes. Everything else (events, delivery, game modes) hangs off this object.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from protocol import control
from protocol.catalogue import ErrorCode, ProtocolError
from server.game.api import Modes
from server.game.companions import CompanionDesk
from server.game.delivery import Delivery
from server.game.dialogue import Conversations
from server.game.events import (
    ChatSaid,
    EventBus,
    FactionChanged,
    HandlerTimer,
    MissionChanged,
    MoneyChanged,
    NpcTalked,
    Overflow,
    PlayerJoined,
    PlayerLeft,
)
from server.game.factions import FactionDesk
from server.game.handlers import HANDLERS, Handler
from server.game.join import Authenticator, GuestAuthenticator, JoinService
from server.game.missions import MissionDesk
from server.game.movement import Movement
from server.game.player import Player
from server.game.rumours import TalkRumours

if TYPE_CHECKING:
    from server.state import ServerState

log = logging.getLogger("ganggpt.game")

# What a spectator may send besides INPUT (which moves its camera): it is nobody in the world.
SPECTATOR_MESSAGES: frozenset[type[Any]] = frozenset(
    {control.Ping, control.Who, control.Leave, control.Hello}
)
LEDGER_QUEUE = 10_000  # money changes waiting for the database


@runtime_checkable
class MoneyLedger(Protocol):
    """Persistence that records money changes durably (the full service has it)."""

    async def change_money(self, player_id: str, delta: int, reason: str) -> str: ...


class Game:
    def __init__(self, state: ServerState, authenticator: Authenticator | None = None) -> None:
        self.state = state
        cfg = state.config
        self.timer = HandlerTimer(state.metrics, cfg.game_handler_budget_ms / 1000)
        self.bus = EventBus(state.metrics, self.timer)
        self.delivery = Delivery(state.world, state.players)
        self.movement = Movement(state, self.bus)
        self.join = JoinService(state, self, authenticator or GuestAuthenticator())
        self.modes = Modes(self, self.timer)
        self.handlers: dict[type[Any], Handler] = dict(HANDLERS)
        self.by_nid: dict[int, Player] = {}
        self._subscribe_core()
        self.talks = Conversations.build(self)
        # Factions, companions, rumours and missions share the dialogue's memory and faction
        # news, and one faction service (a second would announce each relation shift twice).
        self.factions = FactionDesk(self, self.talks.news)
        self.companions = CompanionDesk(self, self.talks.memory)
        self.talks.companions = self.companions.service
        self.rumours = TalkRumours(self, self.talks.memory)
        self.missions = MissionDesk.build(self, self.talks.ai, self.factions.service)

    def _subscribe_core(self) -> None:
        bus = self.bus
        bus.subscribe(PlayerJoined, self._track_join, name="players")
        bus.subscribe(PlayerLeft, self._track_leave, name="players")
        # The one delivery path for what clients must see.
        bus.subscribe(ChatSaid, self._deliver_chat, name="delivery")
        bus.subscribe(NpcTalked, self._deliver_npc_say, name="delivery")
        bus.subscribe(MoneyChanged, self._deliver_money, name="delivery")
        bus.subscribe(FactionChanged, self._deliver_faction, name="delivery")
        bus.subscribe(MissionChanged, self._deliver_mission, name="delivery")
        if isinstance(self.state.persistence, MoneyLedger):
            # Snapshots carry the balance too; the ledger makes each change durable and
            # auditable. A backlog keeps its order: when full, the newest waits for the
            # next snapshot instead (counted as dropped).
            bus.worker(
                "ledger",
                (MoneyChanged,),
                self._record_money,
                maxsize=LEDGER_QUEUE,
                overflow=Overflow.DROP_NEWEST,
            )

    # --- entry points for the transport ---

    def dispatch(self, player: Player, msg: control.ClientMessage) -> None:
        if player.spectator and type(msg) not in SPECTATOR_MESSAGES:
            # A camera is nobody in the world: it cannot speak or act there (SPEC §3.8).
            player.client.fail(
                ProtocolError(
                    f"a spectator cannot send {msg.OP}; only ping, who and leave",
                    error=ErrorCode.BAD_FIELD,
                )
            )
            return
        self.handlers[type(msg)](self, player, msg)

    def start(self) -> None:
        """Load the configured game modes and start the event workers (needs the loop)."""
        self.modes.load(self.state.config.game_module_names)
        self.bus.start()
        self.talks.start()

    def storage_ready(self) -> None:
        """Persistence has started: what reads storage at start may run now (missions)."""
        self.missions.start()

    async def stop(self) -> None:
        self.modes.stop()
        await self.join.settle()
        await self.missions.stop()
        await self.factions.stop()
        await self.companions.stop()
        await self.talks.stop()
        await self.bus.stop()

    # --- rules other code calls ---

    def change_money(self, player: Player, delta: int, reason: str) -> bool:
        old = player.money
        new = old + int(delta)
        if new < 0:
            return False
        # Live state first, then durable (server/persistence/service.py asks for this order).
        player.money = new
        self.bus.publish(MoneyChanged(player, old, new, reason))
        return True

    def set_faction(self, player: Player, faction: str | None, rank: int = 0) -> None:
        old = player.faction
        player.faction, player.rank = faction, rank
        self.bus.publish(FactionChanged(player, old, faction, rank))

    def set_mission(self, player: Player, mission: str, status: str) -> None:
        self.bus.publish(MissionChanged(player, mission, status))

    def teleported(self, nids: list[int]) -> None:
        """Players a Teleport command moved: tell each where it is now (`correct`, ref 0).
        Movement is judged from the world's arrays, so the next input is judged from there.
        Rare, so a scan of the players is fine."""
        wanted = set(nids)
        p = self.state.world.players
        for player in self.state.players.values():
            nid = player.nid
            if nid in wanted:
                player.client.send(
                    control.Correct(
                        x=p.x.item(nid),
                        y=p.y.item(nid),
                        z=p.z.item(nid),
                        heading=p.heading.item(nid),
                        ref=0,
                    )
                )

    # --- core subscribers ---

    def _track_join(self, ev: PlayerJoined) -> None:
        self.by_nid[ev.player.nid] = ev.player

    def _track_leave(self, ev: PlayerLeft) -> None:
        if self.by_nid.get(ev.player.nid) is ev.player:
            del self.by_nid[ev.player.nid]

    def _deliver_chat(self, ev: ChatSaid) -> None:
        p = ev.player
        self.delivery.to_viewers(
            p.nid, control.ChatMessage(from_id=p.nid, name=p.name, text=ev.text)
        )

    def _deliver_npc_say(self, ev: NpcTalked) -> None:
        p = ev.player
        self.delivery.to_player(
            p,
            control.NpcSay(
                npc=ev.npc,
                to=p.nid,
                text=ev.reply,
                reply_id=ev.reply_id,
                replaced=True if ev.replaced else None,
                actions=list(ev.actions) if ev.actions else None,
            ),
        )

    def _deliver_money(self, ev: MoneyChanged) -> None:
        data = {"money": ev.new, "delta": ev.new - ev.old, "reason": ev.reason}
        self.delivery.to_player(ev.player, control.GameEvent(type="money", data=data))

    def _deliver_faction(self, ev: FactionChanged) -> None:
        p = ev.player
        self.delivery.to_player(
            p, control.GameEvent(type="faction", data={"faction": ev.new, "rank": ev.rank})
        )
        if ev.new is not None:
            member = {"net_id": p.nid, "name": p.name, "faction": ev.new, "rank": ev.rank}
            others = [q for q in self.state.players.values() if q.faction == ev.new and q is not p]
            self.delivery.to_players(others, control.GameEvent(type="faction.member", data=member))

    def _deliver_mission(self, ev: MissionChanged) -> None:
        self.delivery.to_player(
            ev.player,
            # A game mode's own mission (GameApi.set_mission): the `mission` event with only
            # what the mode knows (SPEC §4.3); generated missions go through MissionDesk.
            control.GameEvent(
                type="mission", data={"id": ev.mission, "title": ev.mission, "status": ev.status}
            ),
        )

    async def _record_money(self, ev: MoneyChanged) -> None:
        if ev.recorded:
            return
        ledger = self.state.persistence
        assert isinstance(ledger, MoneyLedger)
        await ledger.change_money(ev.player.player_id, ev.new - ev.old, ev.reason)
