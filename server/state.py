"""`ServerState`: what every part of a running server shares, in one place.

Connections, the tick loop, the sweeper and the HTTP handlers all reach the world, the config,
metrics and persistence through this object, never through globals, so several servers can
run in one process (the tests do) without seeing each other.
"""

from __future__ import annotations

import collections
import math
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from config import Config
from server.metrics import Metrics
from server.persistence.api import GamePersistence
from server.replication.view import Viewers
from server.world.world import World

if TYPE_CHECKING:
    from server.admin.service import AdminService
    from server.auth.service import AccountService
    from server.game.core import Game
    from server.game.player import Player
    from server.net.admission import Admission
    from server.net.connection import Connection

HISTORY_SECONDS = 4


@dataclass(eq=False)
class ServerState:
    config: Config
    metrics: Metrics
    world: World
    persistence: GamePersistence
    connections: set[Connection] = field(default_factory=set)
    players: dict[str, Player] = field(default_factory=dict)  # player_id -> playing player
    joining: int = 0
    # Administrators' cameras (SPEC §3.8) by net id: viewers without an entity, not players.
    spectators: dict[int, Player] = field(default_factory=dict)
    viewers: Viewers = field(default_factory=Viewers)  # replication state of every player
    reserved: dict[str, tuple[int, float]] = field(
        default_factory=dict
    )  # player_id -> (nid, until)
    draining: bool = False
    started_at: float = field(default_factory=time.time)
    last_tick_at: float = 0.0
    inputs: int = 0  # since the sweeper last copied it to metrics
    joined_since_gc: int = 0  # players who joined since the last full collection (TickLoop)
    # When the next tick is due (loop clock). Input that arrives after this moment is held
    # (`Connection.held`) and handled right after the tick, so a burst of messages (1,000
    # players leaving at once) never makes a tick wait for more than one of them.
    tick_due: float = math.inf
    held: collections.deque[Connection] = field(default_factory=collections.deque)
    # The game layer (server/game): set by `create`, which every server uses.
    game: Game = field(init=False, repr=False)
    # Per-address connection and handshake limits, and the Origin check (server/net).
    admission: Admission = field(init=False, repr=False)
    # Accounts, tokens and live display names (server/auth); built by start_server.
    accounts: AccountService | None = None
    # The admin console (server/admin): /admin and /admin/api; built by start_server.
    admin: AdminService | None = None

    @classmethod
    def create(
        cls, config: Config, persistence: GamePersistence, metrics: Metrics | None = None
    ) -> ServerState:
        world = World(config, history_ticks=HISTORY_SECONDS * config.tickrate)
        state = cls(
            config=config, metrics=metrics or Metrics(), world=world, persistence=persistence
        )
        from server.game.core import Game  # the game layer imports this module
        from server.net.admission import Admission

        state.game = Game(state)
        state.admission = Admission(config)
        return state

    def phase_of(self, nid: int) -> int:
        return nid % self.config.ticks_per_patch

    @property
    def player_count(self) -> int:
        return len(self.players)
