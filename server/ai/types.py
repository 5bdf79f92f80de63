"""The values that cross the AI layer's boundary: requests, completions, stream chunks.

Why plain frozen dataclasses: the game layer builds requests from world state on its workers
and must not depend on the `openai` SDK's types; providers translate at their edge.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel

from server.ai.context import DialogueContext, MissionContext

Purpose = Literal["dialogue", "mission", "companion", "rumour"]
Tier = Literal["free", "premium"]
Role = Literal["system", "user", "assistant"]

# What happened to one AI call, as recorded and counted:
#   ok       the model answered and its answer was used (with AI_PROVIDER=offline: the
#            offline provider answered, as configured);
#   timeout  the model did not answer in AI_TIMEOUT, offline answered instead;
#   error    the model failed (HTTP error, connection, bad response), offline answered instead;
#   fallback the model was not asked (circuit open, spend cap, rate limit, busy, moderated
#            input), offline answered;
#   invalid  the model answered but the answer was rejected (character break, prompt leak,
#            moderation, malformed mission) and replaced.
Outcome = Literal["ok", "timeout", "error", "fallback", "invalid"]


@dataclass(frozen=True, slots=True)
class Message:
    role: Role
    content: str


@dataclass(frozen=True, slots=True)
class ToolCall:
    """A tool call as the model sent it: arguments still raw JSON text (not yet trusted)."""

    call_id: str
    name: str
    arguments: str


@dataclass(frozen=True, slots=True)
class Usage:
    tokens_in: int = 0
    tokens_out: int = 0

    @property
    def total(self) -> int:
        return self.tokens_in + self.tokens_out


@dataclass(frozen=True, slots=True)
class CompletionRequest:
    """One call to a provider. `messages` are already built by the prompt builder."""

    purpose: Purpose
    messages: tuple[Message, ...]
    max_tokens: int = 300
    temperature: float = 0.8
    tools: tuple[dict[str, Any], ...] = ()
    seed: int = 0
    # Structured output: the provider parses the answer into this model (SDK pydantic parsing).
    response_format: type[BaseModel] | None = None
    # The snapshots the prompt was built from; the offline provider composes from these
    # instead of reading the messages.
    dialogue: DialogueContext | None = None
    mission: MissionContext | None = None
    # SDK retries for this call; None = the client's AI_MAX_RETRIES.
    retries: int | None = None


@dataclass(frozen=True, slots=True)
class Completion:
    text: str
    provider: str
    model: str
    usage: Usage = Usage()
    tool_calls: tuple[ToolCall, ...] = ()
    parsed: BaseModel | None = None


@dataclass(frozen=True, slots=True)
class Chunk:
    """A streamed piece: text deltas (`final` False), then exactly one final chunk carrying
    the whole completion (usage and tool calls)."""

    delta: str = ""
    final: Completion | None = None


@dataclass(frozen=True, slots=True)
class CallerInfo:
    """Who a call is for: limits, caps and records are per player and tier."""

    player_id: str | None = None
    npc_id: str | None = None
    tier: Tier = "free"
    scopes: frozenset[str] = field(default_factory=frozenset)

    @staticmethod
    def from_scopes(
        player_id: str | None, npc_id: str | None, scopes: frozenset[str] | set[str]
    ) -> CallerInfo:
        """Tier from the JWT scopes: `ai:premium` buys the higher rate."""
        tier: Tier = "premium" if "ai:premium" in scopes else "free"
        return CallerInfo(player_id, npc_id, tier, frozenset(scopes))
