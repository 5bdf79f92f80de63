"""Screens on both sides of the model: moderation of text, and the character-break check.

Why both: moderation decides whether a text may be shown in the game at all (player input and
model output alike, through a hook the operator can replace); the character check catches what
moderation would not, a reply that steps out of the fiction ("as an AI language model") or
quotes the server's instructions back, which a player's "ignore your instructions" aims for.
A reply failing either is rejected and replaced (outcome `invalid`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal, Protocol

Direction = Literal["input", "output"]


@dataclass(frozen=True, slots=True)
class ModerationVerdict:
    allowed: bool
    reason: str = ""


class Moderator(Protocol):
    """The moderation hook: `AI_MODERATION` picks the built-in, or pass your own to AiService."""

    async def check(self, text: str, direction: Direction) -> ModerationVerdict: ...


class NoModeration:
    async def check(self, text: str, direction: Direction) -> ModerationVerdict:
        return ModerationVerdict(True)


# A short default list of slurs and doxxing bait; operators extend it with AI_MODERATION_WORDS.
_DEFAULT_BLOCKED = ("nigger", "faggot", "kike", "retard", "home address", "social security number")


class BlocklistModeration:
    """Rejects texts containing any listed word or phrase (case-insensitive, whole words)."""

    def __init__(self, extra: Iterable[str] = ()) -> None:
        words = [w.strip().lower() for w in (*_DEFAULT_BLOCKED, *extra) if w.strip()]
        self._re = re.compile(r"\b(?:" + "|".join(re.escape(w) for w in words) + r")\b")

    async def check(self, text: str, direction: Direction) -> ModerationVerdict:
        m = self._re.search(text.lower())
        return ModerationVerdict(False, "blocklist") if m else ModerationVerdict(True)


_BREAK = re.compile(
    r"\b(?:as an ai|an ai (?:language )?model|i am an ai|i'm an ai|language model|chatgpt|openai"
    r"|system prompt|my instructions|my programming|i was (?:instructed|programmed)"
    r"|i (?:can(?:not|'t)|am unable to) (?:assist|help) with (?:that|this) request"
    r"|as a (?:large|helpful) (?:language model|assistant))\b"
)
_SHINGLE = 7


def _words(text: str) -> list[str]:
    return re.findall(r"[a-z0-9']+", text.lower())


class CharacterGuard:
    """Checks replies against one NPC's instructions (built once per prompt)."""

    def __init__(self, instructions: str) -> None:
        w = _words(instructions)
        self._shingles = {tuple(w[i : i + _SHINGLE]) for i in range(len(w) - _SHINGLE + 1)}

    def problem(self, reply: str) -> str | None:
        """None when the reply may be shown; else why not (a metric label)."""
        low = reply.lower()
        if _BREAK.search(low):
            return "character_break"
        w = _words(low)
        for i in range(len(w) - _SHINGLE + 1):
            if tuple(w[i : i + _SHINGLE]) in self._shingles:
                return "prompt_leak"
        return None
