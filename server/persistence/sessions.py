"""Where resume sessions live: Redis when configured, else the database, else process memory.

Why this order: with Redis, every server instance sees a session the moment it is saved, so a
client told to reconnect can land on any instance. Without Redis the SQL table keeps sessions
across a restart of the embedded server. Either may be down; the session then goes to the next
place, and `take` looks in all of them, so a resume never fails because of where it was saved.
Sessions are short-lived (RESUME_WINDOW) and never written to the journal.
"""

from __future__ import annotations

import dataclasses
import logging
import time

from cachetools import TTLCache

from server.cache.keys import CacheKeys
from server.cache.redis_cache import RedisCache
from server.persistence.api import ResumeSession
from server.persistence.storage import Storage
from server.persistence.writer import WriteBehind

log = logging.getLogger("ganggpt.persistence")


def _to_dict(s: ResumeSession) -> dict[str, object]:
    return dataclasses.asdict(s)


def _from_dict(token: str, d: dict[str, object]) -> ResumeSession | None:
    try:
        return ResumeSession(
            token=token,
            player_id=str(d["player_id"]),
            name=str(d["name"]),
            expires_at=float(d["expires_at"]),  # type: ignore[arg-type]
            data=dict(d.get("data") or {}),  # type: ignore[call-overload]
        )
    except (KeyError, TypeError, ValueError):
        return None


class SessionStore:
    def __init__(
        self,
        storage: Storage,
        writer: WriteBehind,
        redis: RedisCache | None,
        keys: CacheKeys,
    ) -> None:
        self.storage = storage
        self.writer = writer
        self.redis = redis
        self.keys = keys
        self._memory: TTLCache[str, ResumeSession] = TTLCache(maxsize=100_000, ttl=24 * 3600)
        # Set once a session went to the database although Redis is configured (Redis was
        # down): from then on a take found in Redis also deletes any database copy, so a
        # token saved twice can still be used only once.
        self._sql_fallback = False

    async def save(self, s: ResumeSession) -> None:
        ttl = s.expires_at - time.time()
        if ttl <= 0:
            return
        if self.redis is not None and await self.redis.set_json(
            self.keys.session_data(s.token), _to_dict(s), ttl
        ):
            return
        if not self.writer.outage:
            try:
                await self.storage.save_session(s)
            except Exception as err:
                log.warning("session not stored in the database: %s", err)
                if not self.storage.is_unavailable(err):
                    self.writer.refused("resume session", err)
            else:
                self.writer.accepted()
                self._sql_fallback = self.redis is not None
                return
        self._memory[s.token] = s

    async def take(self, token: str) -> ResumeSession | None:
        now = time.time()
        found: ResumeSession | None = self._memory.pop(token, None)
        if found is None and self.redis is not None:
            ok, raw = await self.redis.getdel_json(self.keys.session_data(token))
            if ok and isinstance(raw, dict):
                found = _from_dict(token, raw)
        if (found is None or self._sql_fallback) and not self.writer.outage:
            try:
                stored = await self.storage.take_session(token, now)
            except Exception as err:
                log.warning("session lookup in the database failed: %s", err)
            else:
                found = found or stored
        if found is None or found.expires_at < now:
            return None
        return found
