"""Offline NPC replies: the default when no language model is configured.

Deterministic per NPC and line, so tests and load runs need no network and no API key. The AI
gameplay features replace this with model-backed dialogue behind the same call.
"""

from __future__ import annotations

import zlib

_LINES = (
    "Keep your voice down, the cops roll through here every ten minutes.",
    "I don't know you, and I'd like to keep it that way.",
    "You looking for work? Talk to the Families down on Grove Street.",
    "Nice weather for it. For what? You know what.",
    "I saw nothing. I always see nothing.",
    "Buy me a coffee and maybe I remember something.",
)


def offline_reply(npc_id: int, text: str) -> str:
    h = zlib.crc32(f"{npc_id}:{text.strip().lower()}".encode())
    return _LINES[h % len(_LINES)]
