"""Violation scores: how much a player has cheated lately, and the automatic kick.

Every rejected INPUT (server/game/movement.py) adds one point to its player's score, and the
score halves every ANTICHEAT_HALF_LIFE seconds. An honest client's rare rejection (a stall that
outlasted the movement burst, a few inputs in flight after it) fades away; a cheater's steady
stream of them climbs to ANTICHEAT_KICK_SCORE and is closed with 4011 KICKED (SPEC §11).

The score is kept by player id while it still matters, not on the connection: reconnecting does
not wipe it. Everything here is O(1) per violation and runs only on a rejection, never for an
accepted input.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from prometheus_client import Counter

from protocol.catalogue import CloseCode, ErrorCode

if TYPE_CHECKING:
    from server.game.player import Player
    from server.state import ServerState

log = logging.getLogger("ganggpt.anticheat")

# The rejections that count; each is a label value of the violations metric.
REASONS: tuple[ErrorCode, ...] = (
    ErrorCode.STALE_INPUT,
    ErrorCode.BAD_ACK,
    ErrorCode.BELOW_FLOOR,
    ErrorCode.OUT_OF_BOUNDS,
    ErrorCode.IMPOSSIBLE_MOVE,
    ErrorCode.CLIMB_TOO_FAST,
)
FORGET_BELOW = 0.5  # a score decayed under this is not worth remembering after the player left
PRUNE_OVER = 1024  # scores remembered beyond the live players' before a prune pass


class Violations:
    """One player's score. `score` is its value at time `at` (monotonic seconds)."""

    __slots__ = ("at", "count", "last", "score")

    def __init__(self) -> None:
        self.score = 0.0
        self.at = 0.0
        self.count = 0  # rejections ever counted for this player since the server started
        self.last = ""  # name of the newest one's code

    def value(self, now: float, half_life: float) -> float:
        if self.score == 0.0:
            return 0.0
        return self.score * math.exp2((self.at - now) / half_life)


class Anticheat:
    __slots__ = (
        "clock",
        "counters",
        "half_life",
        "kick_score",
        "kicks",
        "on_violation",
        "scores",
        "state",
    )

    def __init__(self, state: ServerState) -> None:
        self.state = state
        cfg = state.config
        self.kick_score = cfg.anticheat_kick_score
        self.half_life = cfg.anticheat_half_life
        self.scores: dict[str, Violations] = {}  # by player id; only players who ever violated
        self.clock = time.monotonic  # movement's clock (tests drive both)
        # The admin console's hook (`AdminService.report_violation`): the `players` push and
        # the event log. Rejections are rare, so a call per violation costs the tick nothing.
        self.on_violation: Callable[[Player, dict[str, Any]], None] | None = None
        registry = state.metrics.registry
        counter = Counter(
            "ganggpt_anticheat_violations_total",
            "INPUTs rejected by the movement checks, by reason (SPEC §11).",
            ["reason"],
            registry=registry,
        )
        # Bound once: a violation then costs one attribute increment, no label lookup.
        self.counters = {code: counter.labels(reason=code.name) for code in REASONS}
        self.kicks = Counter(
            "ganggpt_anticheat_kicks_total",
            "Players closed with 4011 because their violation score reached ANTICHEAT_KICK_SCORE.",
            registry=registry,
        )

    def start(self, player: Player) -> None:
        """A (re)joining player takes up the score its player id already has."""
        v = self.scores.get(player.player_id)
        if v is not None:
            player.violations = v
        if len(self.scores) > PRUNE_OVER + len(self.state.players):
            self._prune(self.clock())

    def violation(self, player: Player, code: ErrorCode, now: float) -> None:
        """Count one rejection; kick the player if its score reached the threshold."""
        self.counters[code].inc()
        v = player.violations
        if v.count == 0:
            self.scores[player.player_id] = v
        v.score = v.value(now, self.half_life) + 1.0
        v.at = now
        v.count += 1
        v.last = code.name
        if self.on_violation is not None:
            self.on_violation(player, {"code": code.name, "score": round(v.score, 2)})
        if self.kick_score and v.score >= self.kick_score and not player.client.closing:
            self.kicks.inc()
            log.warning(
                "anti-cheat kick: player %s (%s), score %.1f, last %s",
                player.player_id,
                player.name,
                v.score,
                v.last,
            )
            player.client.close(
                CloseCode.KICKED,
                f"anti-cheat: violation score {v.score:.0f} reached {self.kick_score:g}"
                f" (last: {v.last})",
                keep_for_resume=False,
            )

    def score(self, player: Player) -> float:
        """The player's violation score now (what the admin console shows as `violations`)."""
        return player.violations.value(self.clock(), self.half_life)

    def report(self, player: Player) -> dict[str, Any]:
        """`score` now, rejections `count`ed so far, the `last` one's code name."""
        v = player.violations
        return {"score": round(self.score(player), 2), "count": v.count, "last": v.last or None}

    def _prune(self, now: float) -> None:
        live = self.state.players
        for pid, v in list(self.scores.items()):
            if pid not in live and v.value(now, self.half_life) < FORGET_BELOW:
                del self.scores[pid]
