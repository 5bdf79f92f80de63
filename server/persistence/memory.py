"""In-memory `GamePersistence`: nothing survives the process. For tests of the realtime core
that are not about storage, and as the reference behaviour of the contract."""

from __future__ import annotations

import time
import uuid
from typing import Any

from server.persistence.api import PlayerRecord, PlayerSnapshot, ResumeSession


class MemoryPersistence:
    def __init__(self) -> None:
        self.players: dict[str, PlayerRecord] = {}
        self.by_name: dict[str, str] = {}
        self.sessions: dict[str, ResumeSession] = {}
        self.snapshots = 0

    async def start(self) -> None:
        return None

    async def close(self) -> None:
        return None

    async def load_or_create_player(self, name: str) -> PlayerRecord:
        pid = self.by_name.get(name)
        if pid is None:
            pid = str(uuid.uuid4())
            self.by_name[name] = pid
            self.players[pid] = PlayerRecord(player_id=pid, name=name)
        r = self.players[pid]
        return PlayerRecord(**{k: getattr(r, k) for k in r.__slots__})

    def submit_snapshots(self, snaps: list[PlayerSnapshot]) -> None:
        for s in snaps:
            r = self.players.get(s.player_id)
            if r is None:
                continue
            r.x, r.y, r.z, r.heading = s.x, s.y, s.z, s.heading
            r.health, r.armor, r.money, r.has_position = s.health, s.armor, s.money, True
            self.snapshots += 1

    async def save_session(self, s: ResumeSession) -> None:
        self.sessions[s.token] = s

    async def take_session(self, token: str) -> ResumeSession | None:
        s = self.sessions.pop(token, None)
        if s is None or s.expires_at < time.time():
            return None
        return s

    def health(self) -> dict[str, Any]:
        return {
            "database": {"status": "ok", "backend": "memory"},
            "redis": {"status": "ok", "backend": "in-process"},
        }
