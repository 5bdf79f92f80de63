"""World commands: the one way game code changes NPCs and players in the world.

Usage (from any code running on the server's event loop, between ticks)::

    from server.world.commands import (
        DespawnNpc, Follow, SetState, SpawnNpc, StopAndFace, Teleport, WalkTo,
    )

    nid = world.spawn(SpawnNpc(x=10.0, y=20.0, name="Tony", role="vendor"))  # net id or None
    world.submit(Follow(npc=nid, target=player_nid, distance=2.0))
    world.submit(WalkTo(npc=nid, x=50.0, y=60.0, then_wander=True))
    world.submit(StopAndFace(npc=nid, target=player_nid))
    world.submit(Teleport(entity=player_nid, x=0.0, y=0.0, z=30.0))
    world.submit(SetState(entity=nid, health=50, state=3))
    world.submit(DespawnNpc(npc=nid))

`submit` queues the command and returns at once: True if queued, False if the queue is full
or the command is malformed (counted in `ganggpt_world_commands_rejected_total` and logged);
it never raises. The tick applies queued commands first thing, in the order submitted (at
most NPC_COMMANDS_PER_TICK per tick; the rest wait for the next tick), so a command submitted
now takes effect at the next tick, and clients see it in the frame after that as ordinary
ENTER, LEAVE, PATH and MOVE records. A command about an entity that is gone by then is
dropped and counted (`reason="stale"`). `spawn` reserves the NPC's net id immediately, so
commands about the new NPC can be submitted right after it.

Callers never touch the world's arrays or cached wire records to change things: the world
keeps them right. Reading is fine (`world.npcs.x`, `world.players.x`, `world.identity(nid)`).
"""

from __future__ import annotations

import collections
import logging
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, Counter, Gauge

from server.world.identity import SLUG

if TYPE_CHECKING:
    from server.world.world import World

log = logging.getLogger("ganggpt.world")


@dataclass(frozen=True, slots=True)
class SpawnNpc:
    """A new NPC at (x, y, z), standing and facing `heading` (GTA degrees), or wandering.
    What is not given (name, role, faction) comes from a generated identity."""

    x: float
    y: float
    z: float = 0.0
    heading: float = 0.0
    name: str | None = None
    role: str | None = None  # slug, e.g. "vendor"; None = generated
    faction: str | None = None  # slug, e.g. "ballas"; None = generated
    personality: str = ""
    model: int | None = None  # ped model id (0-65535); None = random
    wander: bool = False


@dataclass(frozen=True, slots=True)
class DespawnNpc:
    """Remove an NPC: every viewer gets a LEAVE."""

    npc: int


@dataclass(frozen=True, slots=True)
class WalkTo:
    """Walk straight to (x, y); then wander again (`then_wander`) or stand there."""

    npc: int
    x: float
    y: float
    then_wander: bool = False
    speed: float | None = None  # m/s; None = NPC_SPEED


@dataclass(frozen=True, slots=True)
class StopAndFace:
    """Stop where it is now, facing the `target` entity (or keep facing its way if None)."""

    npc: int
    target: int | None = None


@dataclass(frozen=True, slots=True)
class Follow:
    """Keep walking to `distance` metres from `target` (a player or NPC), re-aimed at a
    bounded rate; ends when the target is gone or another command is given to the NPC."""

    npc: int
    target: int
    distance: float = 2.0
    speed: float | None = None  # m/s; None = NPC_SPEED


@dataclass(frozen=True, slots=True)
class Teleport:
    """Move a player (its client gets a `correct`) or an NPC (it stands there) at once."""

    entity: int
    x: float
    y: float
    z: float
    heading: float | None = None  # None = keep


@dataclass(frozen=True, slots=True)
class SetState:
    """Set health (0-255) and/or the free per-entity state byte (0-255) that game code may
    use as it likes (e.g. 1 = busy, 2 = hostile). Not sent to clients by v1."""

    entity: int
    health: int | None = None
    state: int | None = None


Command = SpawnNpc | DespawnNpc | WalkTo | StopAndFace | Follow | Teleport | SetState

COMMAND_TYPES: tuple[type[Command], ...] = (
    SpawnNpc,
    DespawnNpc,
    WalkTo,
    StopAndFace,
    Follow,
    Teleport,
    SetState,
)


def problem(cmd: object) -> str | None:
    """Why a command is malformed (caller bug), or None. Cheap checks only: whether the
    entity exists is decided when the command is applied."""
    if not isinstance(cmd, COMMAND_TYPES):
        return f"not a world command: {type(cmd).__name__}"
    for name in ("x", "y", "z", "heading", "distance", "speed"):
        v = getattr(cmd, name, None)
        if v is not None and (
            isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v)
        ):
            return f"{name} must be a finite number"
    for name in ("npc", "entity", "target"):
        v = getattr(cmd, name, None)
        if v is not None and (isinstance(v, bool) or not isinstance(v, int) or not 0 <= v < 65536):
            return f"{name} must be a net id (0-65535)"
    if isinstance(cmd, SetState):
        for name, v in (("health", cmd.health), ("state", cmd.state)):
            if v is not None and (
                isinstance(v, bool) or not isinstance(v, int) or not 0 <= v <= 255
            ):
                return f"{name} must be an integer 0-255"
    if isinstance(cmd, (WalkTo, Follow)) and cmd.speed is not None and not 0 < cmd.speed <= 25.5:
        return "speed must be in (0, 25.5] m/s"
    if isinstance(cmd, Follow) and cmd.distance < 0:
        return "distance must be >= 0"
    if isinstance(cmd, SpawnNpc):
        if cmd.model is not None and not 0 <= cmd.model <= 65535:
            return "model must be 0-65535"
        if cmd.name is not None and not 0 < len(cmd.name) <= 64:
            return "name must be 1-64 characters"
        for name, slug in (("role", cmd.role), ("faction", cmd.faction)):
            if slug is not None and not SLUG.match(slug):
                return f"{name} must be a lower-case slug like 'gang_member'"
    return None


class CommandQueue:
    """Bounded FIFO of commands waiting for the tick. `deque.append` and `popleft` are atomic,
    so another thread may submit too (the tick loop thread applies)."""

    def __init__(self, limit: int, per_tick: int) -> None:
        self.limit = limit
        self.per_tick = per_tick
        # (command, reserved NPC slot for a spawn or -1)
        self.queue: collections.deque[tuple[Command, int]] = collections.deque()
        self.submitted = 0
        self.applied = 0
        self.rejected: collections.Counter[str] = collections.Counter()
        self._m_applied: Counter | None = None
        self._m_rejected: Counter | None = None

    def __len__(self) -> int:
        return len(self.queue)

    def register_metrics(self, registry: CollectorRegistry) -> None:
        depth = Gauge(
            "ganggpt_world_commands_queued",
            "World commands waiting for the next tick.",
            registry=registry,
        )
        depth.set_function(lambda: len(self.queue))
        self._m_applied = Counter(
            "ganggpt_world_commands_total",
            "World commands applied by the tick, by command.",
            ["command"],
            registry=registry,
        )
        self._m_rejected = Counter(
            "ganggpt_world_commands_rejected_total",
            "World commands not applied: full (queue full), invalid (malformed), stale "
            "(entity gone by the tick), capacity (no free NPC slot).",
            ["reason"],
            registry=registry,
        )

    def reject(self, reason: str, cmd: object, detail: str = "") -> None:
        self.rejected[reason] += 1
        if self._m_rejected is not None:
            self._m_rejected.labels(reason=reason).inc()
        if reason in ("invalid", "full", "capacity"):
            log.warning(
                "world command %r rejected (%s)%s", cmd, reason, f": {detail}" * bool(detail)
            )
        else:
            log.debug("world command %r dropped (%s)%s", cmd, reason, f": {detail}" * bool(detail))

    def put(self, cmd: Command, slot: int = -1) -> bool:
        if len(self.queue) >= self.limit:
            self.reject("full", cmd, f"{self.limit} queued")
            return False
        self.queue.append((cmd, slot))
        self.submitted += 1
        return True

    def count_applied(self, cmd: Command) -> None:
        self.applied += 1
        if self._m_applied is not None:
            self._m_applied.labels(command=type(cmd).__name__).inc()

    def apply(self, world: World) -> None:
        """Apply up to `per_tick` queued commands (called by `World.step` first thing)."""
        q = self.queue
        for _ in range(min(len(q), self.per_tick)):
            cmd, slot = q.popleft()
            try:
                why = world.apply_command(cmd, slot)
            except Exception:  # a bug here must not take the tick down
                log.exception("world command %r failed", cmd)
                why = "error"
            if why is None:
                self.count_applied(cmd)
            else:
                self.reject(why, cmd)
