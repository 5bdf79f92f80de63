"""A game mode for tests: a handler that raises, one that overruns its budget, one that echoes."""

from __future__ import annotations

import time
from typing import Any

from server.game.api import GameApi
from server.game.player import Player


def setup(api: GameApi) -> None:
    @api.on_message("test.boom")
    def boom(player: Player, data: dict[str, Any]) -> None:
        raise RuntimeError("a bug in a game mode")

    @api.on_message("test.slow")
    def slow(player: Player, data: dict[str, Any]) -> None:
        end = time.perf_counter() + 0.004  # twice the 2 ms budget, on the loop
        while time.perf_counter() < end:
            pass
        api.send(player, "test.slow_done", {})

    @api.on_message("test.echo")
    def echo(player: Player, data: dict[str, Any]) -> None:
        api.send_to_viewers(player.nid, "test.echoed", {"from": player.nid, **data})
