"""The game's answer to each client message, in one table keyed by message type.

Adding a client message is one catalogue entry, one decoder entry (`protocol/control.py`)
and one handler here (`@handles(control.NewMessage)`). Handlers get the game and the
player; they answer through the player's client and publish events, and never touch a
socket. `tests/server/test_game_handlers.py` drives every one of them with a fake client.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from protocol import control
from protocol.catalogue import CloseCode, EntityKind, ErrorCode, ProtocolError
from server.game.events import ChatSaid
from server.game.player import Player
from server.world.who import who_reply

if TYPE_CHECKING:
    from server.game.core import Game

Handler = Callable[["Game", Player, Any], None]
M = TypeVar("M")

HANDLERS: dict[type[Any], Handler] = {}


def handles(kind: type[M]) -> Callable[[Callable[[Game, Player, M], None]], Handler]:
    def register(fn: Callable[[Game, Player, M], None]) -> Handler:
        if kind in HANDLERS:
            raise ValueError(f"{kind.__name__} has a handler already")
        HANDLERS[kind] = fn
        return fn

    return register


@handles(control.Ping)
def ping(game: Game, player: Player, msg: control.Ping) -> None:
    player.client.send(control.Pong(id=msg.id, t=msg.t, server_time=time.time()))


@handles(control.Chat)
def chat(game: Game, player: Player, msg: control.Chat) -> None:
    # Delivered to the players who see the speaker by the bus's delivery subscriber.
    game.bus.publish(ChatSaid(player, msg.text))


@handles(control.Talk)
def talk(game: Game, player: Player, msg: control.Talk) -> None:
    w = game.state.world
    npc = msg.npc
    if w.kind[npc] != EntityKind.NPC or not w.grid.sees(int(w.cell[player.nid]), int(w.cell[npc])):
        player.client.fail(ProtocolError(f"no NPC {npc} in view", error=ErrorCode.UNKNOWN_ENTITY))
        return
    # The reply streams from a task of its own (server/game/dialogue.py), never on the tick.
    game.talks.start_talk(player, npc, msg.text)


@handles(control.Leave)
def leave(game: Game, player: Player, msg: control.Leave) -> None:
    player.client.close(CloseCode.NORMAL, "bye", keep_for_resume=False)


@handles(control.Hello)
def hello_again(game: Game, player: Player, msg: control.Hello) -> None:
    player.client.fail(ProtocolError("already welcomed", error=ErrorCode.ALREADY_WELCOMED))


@handles(control.Custom)
def custom(game: Game, player: Player, msg: control.Custom) -> None:
    game.modes.dispatch(player, msg)


@handles(control.Who)
def who(game: Game, player: Player, msg: control.Who) -> None:
    player.client.send(who_reply(game.state.world, player.nid, msg.ids))


# --- factions and companions: storage work, so each runs on a task of its own ---


@handles(control.Faction)
def faction(game: Game, player: Player, msg: control.Faction) -> None:
    game.factions.handle(player, msg)


@handles(control.Companion)
def companion(game: Game, player: Player, msg: control.Companion) -> None:
    game.companions.handle(player, msg)


@handles(control.Mission)
def mission(game: Game, player: Player, msg: control.Mission) -> None:
    # Offers, acceptance and completion await storage (and generation): a task of their own.
    game.missions.handle(player, msg)
