"""Companions: a player's own NPC that follows them, remembers, and is as loyal as it is treated.

Limits: COMPANION_LIMIT companions per player, COMPANION_LIMIT_PREMIUM with the `ai:premium`
permission (the caller passes the player's permission set). At most one of a player's
companions is in the world at a time (summoning another sends the first home).

In the world a summoned companion is an ordinary spawned NPC (role `companion`, no faction)
that follows its player through world commands (`SpawnNpc`, then `Follow`); `dismiss`
despawns it (`DespawnNpc`), `recall` brings it back to the player (a `Teleport` next to
them and a new `Follow`, or a new spawn when it is gone). Commands take effect at the next
tick; nothing here awaits on the tick path.

Its memory and relationships use the stable key `companion:<id>`, not the spawned NPC's key
(which changes every summon), so it remembers across summons and restarts.

Loyalty (0-100, start 50) moves with treatment, by these documented amounts:

    praised +3   fed +2   gift +5   healed +4   rescued +8   played +1
    ignored -1   scolded -3   endangered -5   abandoned -6   hit -10   shot -25

Experience grows with `treat(..., "mission_done")` (+50), "fought" (+10), "talked" (+1),
which change no loyalty. A companion whose loyalty falls to 0 leaves the world and refuses
to be summoned until treated better (`gift`, `praised`... still work while it sulks).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from protocol.catalogue import COMPANION_KINDS
from server.ai.context import NpcPersona
from server.gameplay.events import GameplayEvent
from server.gameplay.memory import MemoryMetrics, MemoryService, clip
from server.persistence.models import Companion
from server.persistence.repos import Repositories
from server.world.commands import DespawnNpc, Follow, SpawnNpc, Teleport

if TYPE_CHECKING:
    from server.gameplay.dialogue_context import PlayerRef
    from server.world.world import World

PREMIUM = "ai:premium"
ROLE = "companion"
FOLLOW_DISTANCE = 2.5  # metres behind the player
FOLLOW_SPEED = 6.0  # m/s: a jog, so it keeps up with a running player (NPCs walk slower)

LOYALTY: dict[str, int] = {
    "praised": 3,
    "fed": 2,
    "gift": 5,
    "healed": 4,
    "rescued": 8,
    "played": 1,
    "ignored": -1,
    "scolded": -3,
    "endangered": -5,
    "abandoned": -6,
    "hit": -10,
    "shot": -25,
}
EXPERIENCE: dict[str, int] = {"mission_done": 50, "fought": 10, "talked": 1}
PHRASES = {
    "gift": "gave me a gift",
    "played": "played with me",
    "mission_done": "and I finished a job together",
    "fought": "and I fought side by side",
    "talked": "talked with me",
}
TYPES = frozenset(COMPANION_KINDS)


class CompanionError(Exception):
    """A refused companion action; `code` is stable for clients (the message may change)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True, slots=True, kw_only=True)
class CompanionChanged(GameplayEvent):
    """`change`: created, summoned, dismissed, recalled, renamed, treated, left."""

    companion_id: str
    player_id: str
    change: str
    nid: int | None = None
    loyalty: int = 0
    experience: int = 0


def companion_key(companion_id: str) -> str:
    return f"companion:{companion_id}"


def clean_name(name: str) -> str:
    name = " ".join(name.split())
    if not 1 <= len(name) <= 32 or any(not c.isprintable() for c in name):
        raise CompanionError("BAD_NAME", "a companion's name is 1-32 printable characters")
    return name


class CompanionService:
    def __init__(
        self,
        repos: Repositories,
        *,
        limit: int = 1,
        premium_limit: int = 3,
        memory: MemoryService | None = None,
        metrics: MemoryMetrics | None = None,
        emit: Callable[[GameplayEvent], None] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.repos = repos
        self.limit = limit
        self.premium_limit = premium_limit
        self.memory = memory
        self.metrics = metrics or (memory.metrics if memory is not None else MemoryMetrics())
        self.emit = emit
        self.clock = clock
        self._owned: dict[str, dict[str, Companion]] = {}  # player id -> companions by id
        self._nid: dict[str, int] = {}  # companion id -> net id while summoned
        self._by_nid: dict[int, str] = {}

    # --- reading -----------------------------------------------------------------------
    def limit_for(self, permissions: frozenset[str] | set[str]) -> int:
        return self.premium_limit if PREMIUM in permissions else self.limit

    async def of_player(self, player_id: str) -> list[Companion]:
        owned = self._owned.get(player_id)
        if owned is None:
            owned = {c.companion_id: c for c in await self.repos.companions.of_player(player_id)}
            self._owned[player_id] = owned
        return sorted(owned.values(), key=lambda c: (c.created_at, c.companion_id))

    async def _get(self, player_id: str, companion_id: str) -> Companion:
        for c in await self.of_player(player_id):
            if c.companion_id == companion_id:
                return c
        raise CompanionError("NOT_FOUND", "no such companion of this player")

    def by_nid(self, nid: int) -> Companion | None:
        """The companion that NPC `nid` is, if it is one (for dialogue)."""
        cid = self._by_nid.get(nid)
        if cid is None:
            return None
        for owned in self._owned.values():
            if cid in owned:
                return owned[cid]
        return None  # pragma: no cover - a summoned companion's owner is loaded

    def owned(self, player_id: str) -> list[Companion]:
        """The player's companions already loaded (no storage read)."""
        return list(self._owned.get(player_id, {}).values())

    def known(self, player_id: str, companion_id: str) -> Companion | None:
        """A companion already loaded for its player (no storage read), or None."""
        return self._owned.get(player_id, {}).get(companion_id)

    def summoned(self, companion_id: str) -> int | None:
        return self._nid.get(companion_id)

    def persona(self, c: Companion) -> NpcPersona:
        p = c.personality
        text = p.get("text") if isinstance(p, dict) else None
        return NpcPersona(
            npc_id=companion_key(c.companion_id),
            name=c.name,
            role=f"{c.companion_type} and loyal companion of the player"
            if c.loyalty_level >= 50
            else f"{c.companion_type} travelling with the player",
            faction=None,
            personality=clip(text, 400) if isinstance(text, str) and text else "loyal",
            mood="content" if c.loyalty_level >= 30 else "resentful",
        )

    # --- writing -----------------------------------------------------------------------
    async def _save(self, c: Companion) -> Companion:
        await self.repos.companions.save(c)
        self._owned.setdefault(c.player_id, {})[c.companion_id] = c
        return c

    def _event(self, c: Companion, change: str) -> None:
        self.metrics.companions.labels(change, "ok").inc()
        if self.emit is not None:
            self.emit(
                CompanionChanged(
                    at=self.clock(),
                    companion_id=c.companion_id,
                    player_id=c.player_id,
                    change=change,
                    nid=self._nid.get(c.companion_id),
                    loyalty=c.loyalty_level,
                    experience=c.experience_points,
                )
            )

    def _refuse(self, action: str, code: str, message: str) -> CompanionError:
        self.metrics.companions.labels(action, code.lower()).inc()
        return CompanionError(code, message)

    async def create(
        self,
        player_id: str,
        name: str,
        companion_type: str,
        personality: str = "",
        *,
        permissions: frozenset[str] | set[str] = frozenset(),
    ) -> Companion:
        """A new companion for the player, within the tier's limit (durable when it returns)."""
        if companion_type not in TYPES:
            raise self._refuse("create", "BAD_TYPE", f"type must be one of {sorted(TYPES)}")
        name = clean_name(name)
        have = await self.of_player(player_id)
        limit = self.limit_for(permissions)
        if len(have) >= limit:
            raise self._refuse(
                "create", "LIMIT", f"{limit} companion(s) at most for this player's tier"
            )
        c = Companion(
            companion_id=str(uuid.uuid4()),
            player_id=player_id,
            name=name,
            companion_type=companion_type,
            personality={"text": clip(personality, 400)} if personality else {},
            experience_points=0,
            loyalty_level=50,
            memory_data={},
            created_at=self.clock(),
        )
        await self._save(c)
        self._event(c, "created")
        return c

    async def summon(self, world: World, player: PlayerRef, companion_id: str) -> int:
        """Spawn the companion next to the player, following them; its net id. Another
        summoned companion of the player is sent home first."""
        c = await self._get(player.player_id, companion_id)
        if c.loyalty_level <= 0:
            raise self._refuse("summon", "REFUSES", f"{c.name} will not come (loyalty 0)")
        nid = self._nid.get(companion_id)
        if nid is not None and self._present(world, nid):
            return nid
        for other in await self.of_player(player.player_id):
            if other.companion_id != companion_id and other.companion_id in self._nid:
                self.dismiss(world, player.player_id, other.companion_id)
        pos = world.entity_xy(player.nid)
        if pos is None:
            raise self._refuse("summon", "NOT_IN_WORLD", "the player is not in the world")
        nid = world.spawn(
            SpawnNpc(
                x=pos[0] + 1.5,
                y=pos[1] - 1.5,
                name=c.name[:64],
                role=ROLE,
                faction="none",
                personality=str(c.personality.get("text", "")) if c.personality else "",
            )
        )
        if nid is None:
            raise self._refuse("summon", "CAPACITY", "no room for another NPC in the world")
        world.submit(
            Follow(npc=nid, target=player.nid, distance=FOLLOW_DISTANCE, speed=FOLLOW_SPEED)
        )
        self._forget_nid(companion_id)
        self._nid[companion_id] = nid
        self._by_nid[nid] = companion_id
        self._event(c, "summoned")
        if self.memory is not None:
            self.memory.remember(
                companion_key(companion_id),
                "companion",
                f"{player.name} called me to their side.",
                player_id=player.player_id,
                weight=20,
            )
        return nid

    def _present(self, world: World, nid: int) -> bool:
        ident = world.identity(nid)
        return ident is not None and ident.role == ROLE

    def _forget_nid(self, companion_id: str) -> None:
        nid = self._nid.pop(companion_id, None)
        if nid is not None:
            self._by_nid.pop(nid, None)

    def dismiss(self, world: World, player_id: str, companion_id: str) -> bool:
        """Send the companion home (despawn). False if it was not summoned."""
        owned = self._owned.get(player_id, {})
        c = owned.get(companion_id)
        nid = self._nid.get(companion_id)
        if c is None or nid is None:
            self.metrics.companions.labels("dismiss", "not_summoned").inc()
            return False
        if self._present(world, nid):
            world.submit(DespawnNpc(npc=nid))
        self._event(c, "dismissed")
        self._forget_nid(companion_id)
        return True

    def player_left(self, world: World, player_id: str) -> int:
        """Dismiss every summoned companion of a player who left; how many."""
        return sum(
            self.dismiss(world, player_id, cid)
            for cid in list(self._owned.get(player_id, {}))
            if cid in self._nid
        )

    async def recall(self, world: World, player: PlayerRef, companion_id: str) -> int:
        """Bring the companion back to the player's side (re-spawning it if it is gone)."""
        c = await self._get(player.player_id, companion_id)
        nid = self._nid.get(companion_id)
        pos = world.entity_xy(player.nid)
        if nid is None or not self._present(world, nid) or pos is None:
            return await self.summon(world, player, companion_id)
        z = float(world.players.z[player.nid])
        world.submit(Teleport(entity=nid, x=pos[0] + 1.5, y=pos[1] - 1.5, z=z))
        world.submit(
            Follow(npc=nid, target=player.nid, distance=FOLLOW_DISTANCE, speed=FOLLOW_SPEED)
        )
        self._event(c, "recalled")
        return nid

    async def rename(self, player_id: str, companion_id: str, name: str) -> Companion:
        """A new name (used by its dialogue at once; the world's `who` shows it from the next
        summon)."""
        c = await self._get(player_id, companion_id)
        c = await self._save(replace(c, name=clean_name(name)))
        self._event(c, "renamed")
        return c

    async def treat(
        self, world: World | None, player: PlayerRef, companion_id: str, how: str
    ) -> Companion:
        """The player treated the companion `how` (see LOYALTY / EXPERIENCE); durable. The
        companion remembers it; at loyalty 0 it leaves the world."""
        if how not in LOYALTY and how not in EXPERIENCE:
            raise self._refuse(
                "treat", "BAD_TREATMENT", f"one of {sorted(LOYALTY) + sorted(EXPERIENCE)}"
            )
        c = await self._get(player.player_id, companion_id)
        loyalty = min(max(c.loyalty_level + LOYALTY.get(how, 0), 0), 100)
        xp = c.experience_points + EXPERIENCE.get(how, 0)
        memo: dict[str, Any] = dict(c.memory_data or {})
        counts = dict(memo.get("treated", {}))
        counts[how] = int(counts.get(how, 0)) + 1
        memo["treated"] = counts
        c = await self._save(
            replace(c, loyalty_level=loyalty, experience_points=xp, memory_data=memo)
        )
        self._event(c, "treated")
        if self.memory is not None:
            delta = LOYALTY.get(how, 0)
            self.memory.remember(
                companion_key(companion_id),
                "treatment",
                f"{player.name} {PHRASES.get(how, how.replace('_', ' ') + ' me')}.",
                player_id=player.player_id,
                weight=min(100, 30 + 3 * abs(delta)),
                data={"how": how, "loyalty": loyalty},
            )
        if loyalty == 0 and world is not None and companion_id in self._nid:
            self.dismiss(world, player.player_id, companion_id)
            self._event(c, "left")
        return c
