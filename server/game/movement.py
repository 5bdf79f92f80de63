"""Movement validation: what an INPUT may do to its player's position, and to its lag stats.

Runs for every INPUT frame (30,000 a second with 1,000 players), as each arrives, so it is O(1)
scalar code that builds no containers, and reads the last accepted position from the world's
player arrays themselves: a teleport by a world command moves the player there, and the next
input is judged from the new place.

Rules (SPEC.md §11), in order: the seq must be newer than the last one taken (a replayed or
older INPUT is dropped); the ack may only name a STATE frame already sent on this connection and
never go backwards (else it is ignored: it feeds the lag metrics); z must not be under the world
floor; the position must be inside the world; the 3-D distance moved must fit the movement
budget and the rise must fit the climb budget. Both budgets are token buckets in metres, refilled
by the server's clock (at PLAYER_MAX_SPEED and PLAYER_MAX_CLIMB_SPEED) and capped at
MOVE_BURST_SECONDS' worth plus MOVE_SLACK_M: the cap is the only tolerance, granted once, never
per input, so sending more inputs buys no speed. A rejected position is answered with its error
and a `correct` carrying the authoritative position; every rejection counts towards the
player's violation score (anticheat.py).

Why a burst of a second: inputs are judged by when the server reads them. A server (or network)
stall makes an honest client's inputs arrive bunched; the burst is how long such a stall may
last before an honest client at full speed is corrected, and it is also all a cheater gains
before being held to the limit.
"""

from __future__ import annotations

import time
from math import sqrt

from protocol import control
from protocol.catalogue import ErrorCode, ProtocolError
from protocol.state import InputFrame
from server.game.anticheat import PRUNE_OVER, Anticheat
from server.game.events import EventBus, PlayerLeft
from server.game.player import Player
from server.limits import climb_burst, climb_speed, move_burst, world_floor
from server.state import ServerState


class Movement:
    __slots__ = (
        "anticheat",
        "bounds",
        "burst",
        "climb_burst",
        "climb_speed",
        "clock",
        "floor",
        "left",
        "max_speed",
        "players",
        "state",
    )

    def __init__(self, state: ServerState, bus: EventBus | None = None) -> None:
        self.state = state  # `state.inputs` counts accepted inputs for the sweeper
        cfg = state.config
        self.bounds = state.world.bounds
        self.players = state.world.players
        self.max_speed = cfg.player_max_speed
        self.burst = move_burst(cfg)
        self.climb_speed = climb_speed(cfg)
        self.climb_burst = climb_burst(cfg)
        self.floor = world_floor(cfg)
        self.anticheat = Anticheat(state)
        self.clock = time.monotonic
        # Budgets left by players who went away, so reconnecting refills nothing that waiting
        # would not have: by player id, (move budget, climb budget, at).
        self.left: dict[str, tuple[float, float, float]] = {}
        if bus is not None:
            bus.subscribe(PlayerLeft, self._stop, name="movement")

    def start(self, player: Player) -> None:
        """Budgets for a player who just joined or resumed: full, or what it left with."""
        now = self.clock()
        kept = self.left.pop(player.player_id, None)
        if kept is None:
            player.move_budget, player.climb_budget, player.budget_at = (
                self.burst,
                self.climb_burst,
                now,
            )
        else:  # the next INPUT refills them for the time away
            player.move_budget, player.climb_budget, player.budget_at = kept
        player.last_x, player.last_y, player.last_z = player.position
        self.anticheat.start(player)
        if len(self.left) > PRUNE_OVER:
            # Entries older than a burst are full budgets again: nothing left to remember.
            horizon = now - self.state.config.move_burst_seconds
            for pid, (_m, _c, at) in list(self.left.items()):
                if at < horizon:
                    del self.left[pid]

    def _stop(self, ev: PlayerLeft) -> None:
        p = ev.player
        self.left[p.player_id] = (p.move_budget, p.climb_budget, p.budget_at)

    def on_input(self, player: Player, inp: InputFrame) -> None:
        self.move(player, inp.seq, inp.ack, inp.x, inp.y, inp.z, inp.heading)

    def move(
        self, player: Player, seq: int, ack: int, x: float, y: float, z: float, heading: float
    ) -> None:
        """`on_input` on the INPUT's fields: the connection decodes them without making an
        `InputFrame` (whose frozen `__init__` was a fifth of the cost of an INPUT)."""
        client = player.client
        if client.closing:  # kicked by an earlier INPUT of the same read
            return
        if seq <= player.input_seq:  # SPEC §9.2: a repeated or older INPUT changes nothing
            self._refuse(
                player,
                seq,
                ErrorCode.STALE_INPUT,
                f"INPUT seq {seq} is not after {player.input_seq}",
            )
            return
        player.input_seq = seq
        if ack != client.ack:
            slot = client.slot
            sent = self.state.viewers.seq.item(slot) if slot >= 0 else 0
            if client.ack < ack <= sent:
                client.ack = ack
            else:
                self._refuse(
                    player,
                    seq,
                    ErrorCode.BAD_ACK,
                    f"ack {ack}: STATE frames sent are 1 to {sent}, last ack {client.ack}",
                )
        if z < self.floor:
            self._reject(player, seq, ErrorCode.BELOW_FLOOR, f"z {z:.1f} is under the floor")
            return
        # `bounds.contains`, unrolled on the bounds' own (frozen) numbers.
        b = self.bounds
        if not (b.min_x <= x <= b.max_x and b.min_y <= y <= b.max_y and b.min_z <= z <= b.max_z):
            self._reject(player, seq, ErrorCode.OUT_OF_BOUNDS, "position outside the world")
            return
        if player.spectator:  # a camera flies anywhere in the world at once (SPEC §3.8)
            self.state.world.move_camera(player.nid, x, y, z, heading)
            return
        now = self.clock()
        elapsed = now - player.budget_at
        player.budget_at = now
        budget = player.move_budget + elapsed * self.max_speed
        if budget > self.burst:
            budget = self.burst
        climb = player.climb_budget + elapsed * self.climb_speed
        if climb > self.climb_burst:
            climb = self.climb_burst
        p = self.players
        nid = player.nid
        dx = x - p.x_at[nid]
        dy = y - p.y_at[nid]
        dz = z - p.z_at[nid]
        dist = sqrt(dx * dx + dy * dy + dz * dz)
        if dist > budget:
            player.move_budget = budget
            player.climb_budget = climb
            self._reject(
                player,
                seq,
                ErrorCode.IMPOSSIBLE_MOVE,
                f"moved {dist:.1f} m with {budget:.1f} m of budget ({self.max_speed:g} m/s)",
            )
            return
        if dz > climb:
            player.move_budget = budget
            player.climb_budget = climb
            self._reject(
                player,
                seq,
                ErrorCode.CLIMB_TOO_FAST,
                f"rose {dz:.1f} m with {climb:.1f} m of climb budget ({self.climb_speed:g} m/s)",
            )
            return
        player.move_budget = budget - dist
        player.climb_budget = climb - dz if dz > 0.0 else climb
        # `p.place`, inline: the four numbers written through the arrays' memoryviews.
        p.x_at[nid] = x
        p.y_at[nid] = y
        p.z_at[nid] = z
        p.heading_at[nid] = heading
        player.last_x = x
        player.last_y = y
        player.last_z = z
        self.state.inputs += 1

    def _refuse(self, player: Player, seq: int, code: ErrorCode, message: str) -> None:
        """An error without a `correct`: nothing about the position was judged."""
        player.client.fail(ProtocolError(message, error=code), ref=seq)
        self.anticheat.violation(player, code, self.clock())

    def _reject(self, player: Player, seq: int, code: ErrorCode, message: str) -> None:
        client = player.client
        client.fail(ProtocolError(message, error=code), ref=seq)
        p = self.players
        nid = player.nid
        x = p.x.item(nid)
        y = p.y.item(nid)
        z = p.z.item(nid)
        client.send(control.Correct(x=x, y=y, z=z, heading=p.heading.item(nid), ref=seq))
        # The server moved the player (a teleport) since its last accepted INPUT: the inputs
        # already in flight were sent from the old place. Not cheating, so not scored.
        if x == player.last_x and y == player.last_y and z == player.last_z:
            self.anticheat.violation(player, code, self.clock())
