"""The cache key layout from the seed (`ganggpt:` + one of these), in one place.

Why a class instead of f-strings at call sites: the prefix is configurable (REDIS_PREFIX, and
each test run uses its own), and backup/restore must find exactly the keys this server owns.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class CacheKeys:
    prefix: str = "ganggpt:"

    def player_profile(self, player_id: str) -> str:
        return f"{self.prefix}player:{player_id}:profile"

    def npc_memory(self, npc_id: str) -> str:
        return f"{self.prefix}npc:{npc_id}:memory"

    def faction_state(self, name: str) -> str:
        return f"{self.prefix}faction:{name}:state"

    def mission_details(self, mission_id: str) -> str:
        return f"{self.prefix}mission:{mission_id}:details"

    def ai_response(self, digest: str) -> str:
        return f"{self.prefix}ai:response:{digest}"

    def session_data(self, token: str) -> str:
        return f"{self.prefix}session:{token}:data"

    def pattern(self) -> str:
        """SCAN pattern matching every key under the prefix (glob characters escaped)."""
        escaped = "".join("\\" + c if c in "*?[]\\" else c for c in self.prefix)
        return escaped + "*"
