"""Movement validation: what an INPUT may do to its player's position.

Runs for every INPUT frame (20,000 a second on a busy server), so it allocates nothing and
reads the last accepted position from the world's player arrays themselves: a teleport by a
world command moves the player there, and the next input is judged from the new place.

Rules (SPEC.md §11): the position must be inside the world; the distance from the last
accepted position may not exceed a budget that refills at PLAYER_MAX_SPEED, capped at one
second's worth plus MOVE_SLACK_M, with MOVE_SLACK_M of extra tolerance per step. A rejected
input is answered with its error and a `correct` carrying the authoritative position.
"""

from __future__ import annotations

import math
import time

from protocol import control
from protocol.catalogue import ErrorCode, ProtocolError
from protocol.state import InputFrame
from server.game.player import Player
from server.limits import MOVE_SLACK_M
from server.state import ServerState

FIRST_STEP_SECONDS = 0.25  # budget at join: a normal first step is not a teleport


class Movement:
    __slots__ = ("bounds", "cap", "max_speed", "players", "state")

    def __init__(self, state: ServerState) -> None:
        self.state = state  # `state.inputs` counts accepted inputs for the sweeper
        self.bounds = state.world.bounds
        self.players = state.world.players
        self.max_speed = state.config.player_max_speed
        self.cap = self.max_speed + MOVE_SLACK_M

    def start(self, player: Player) -> None:
        """Fresh budget for a player who just joined (or resumed)."""
        player.budget_at = time.monotonic()
        player.move_budget = self.max_speed * FIRST_STEP_SECONDS

    def on_input(self, player: Player, inp: InputFrame) -> None:
        if inp.seq <= player.input_seq:  # SPEC §9.2: a repeated or older INPUT changes nothing
            player.client.fail(
                ProtocolError(
                    f"INPUT seq {inp.seq} is not after {player.input_seq}",
                    error=ErrorCode.STALE_INPUT,
                ),
                ref=inp.seq,
            )
            return
        player.input_seq = inp.seq
        if not self.bounds.contains(inp.x, inp.y, inp.z):
            self._reject(player, inp, ErrorCode.OUT_OF_BOUNDS, "position outside the world")
            return
        if player.spectator:  # a camera flies anywhere in the world at once (SPEC §3.8)
            self.state.world.move_camera(player.nid, inp.x, inp.y, inp.z, inp.heading)
            return
        now = time.monotonic()
        budget = min(self.cap, player.move_budget + (now - player.budget_at) * self.max_speed)
        player.budget_at = now
        p = self.players
        nid = player.nid
        dx = inp.x - p.x.item(nid)
        dy = inp.y - p.y.item(nid)
        dz = inp.z - p.z.item(nid)
        dist = math.sqrt(dx * dx + dy * dy + dz * dz)
        if dist > budget + MOVE_SLACK_M:
            player.move_budget = budget
            self._reject(
                player,
                inp,
                ErrorCode.IMPOSSIBLE_MOVE,
                f"moved {dist:.1f} m, faster than {self.max_speed:g} m/s",
            )
            return
        player.move_budget = max(0.0, budget - dist)
        p.place(nid, inp.x, inp.y, inp.z, inp.heading)
        self.state.inputs += 1

    def _reject(self, player: Player, inp: InputFrame, code: ErrorCode, message: str) -> None:
        client = player.client
        client.fail(ProtocolError(message, error=code), ref=inp.seq)
        p = self.players
        nid = player.nid
        client.send(
            control.Correct(
                x=p.x.item(nid),
                y=p.y.item(nid),
                z=p.z.item(nid),
                heading=p.heading.item(nid),
                ref=inp.seq,
            )
        )
