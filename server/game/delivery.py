"""The one path by which game events reach clients: to one player, to the players who see
an entity or a cell, to a faction, or to everyone.

A message is encoded once and the same bytes go to every recipient. Who sees what is the
world grid's answer (`Grid.sees`, the same rule that decides ENTER and LEAVE), so a chat line
or a custom message reaches exactly the players who have the speaker in view.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from protocol import control
from server.game.player import Player
from server.world.world import World


class Delivery:
    def __init__(self, world: World, players: Mapping[str, Player]) -> None:
        self.world = world
        self.players = players  # player_id -> playing player (ServerState.players)

    def to_player(self, player: Player, msg: control.ServerMessage) -> None:
        player.client.send(msg)

    def to_players(self, players: Iterable[Player], msg: control.ServerMessage) -> int:
        data = control.encode(msg)
        n = 0
        for p in players:
            p.client.send_raw_text(data)
            n += 1
        return n

    def viewers_of_cell(self, cell: int) -> list[Player]:
        """Players whose view includes `cell`."""
        w = self.world
        wc = w.cell
        sees = w.grid.sees
        return [p for p in self.players.values() if sees(int(wc[p.nid]), cell)]

    def to_cell(self, cell: int, msg: control.ServerMessage) -> int:
        return self.to_players(self.viewers_of_cell(cell), msg)

    def to_viewers(self, nid: int, msg: control.ServerMessage) -> int:
        """To every player who sees entity `nid` (a player sees itself)."""
        return self.to_cell(int(self.world.cell[nid]), msg)

    def to_faction(self, faction: str, msg: control.ServerMessage) -> int:
        return self.to_players((p for p in self.players.values() if p.faction == faction), msg)

    def to_all(self, msg: control.ServerMessage) -> int:
        return self.to_players(self.players.values(), msg)
