"""What the game core needs from persistence: the seam between the tick and the storage.

The realtime core only ever calls these methods. `submit_snapshots` must never block or raise
(it runs on the tick side); everything awaited runs in connection handlers, off the tick.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from server.persistence.repos import Repositories


@dataclass(slots=True)
class PlayerRecord:
    """A player as stored: identity plus the last snapshot of live state."""

    player_id: str  # UUID as text
    name: str
    x: float = 0.0
    y: float = 0.0
    z: float = 0.0
    heading: float = 0.0
    health: int = 100
    armor: int = 0
    money: int = 0
    has_position: bool = False  # False for a new player: spawn somewhere


@dataclass(slots=True)
class PlayerSnapshot:
    """Live state of one player at one moment, handed to the writer behind the tick."""

    player_id: str
    x: float
    y: float
    z: float
    heading: float
    health: int
    armor: int
    money: int
    taken_at: float  # unix seconds


@dataclass(slots=True)
class ResumeSession:
    """What a resume token unlocks: stored so another server instance can resume too."""

    token: str
    player_id: str
    name: str
    expires_at: float
    data: dict[str, Any] = field(default_factory=dict)


class GamePersistence(Protocol):
    """What the server holds as `ServerState.persistence`. `repos` is how game code reaches
    stored data by domain (players, accounts, factions, missions, companions, NPC memory, AI
    calls, the audit log); see server/persistence/repos.py."""

    @property
    def repos(self) -> Repositories: ...

    async def start(self) -> None: ...
    async def close(self) -> None: ...
    async def load_or_create_player(self, name: str) -> PlayerRecord:
        """Guest login by name (accounts come later); creation is durable before it returns."""
        ...

    def submit_snapshots(self, snaps: list[PlayerSnapshot]) -> None:
        """Hand over dirty players' state. Non-blocking, never raises."""
        ...

    async def save_session(self, s: ResumeSession) -> None: ...
    async def take_session(self, token: str) -> ResumeSession | None:
        """Return and delete the session if it exists and has not expired."""
        ...

    def health(self) -> dict[str, Any]:
        """{"database": {"status": "ok"|"degraded"|"down", ...}, "redis": {...}}"""
        ...
