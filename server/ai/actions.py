"""The actions a model may propose through tool calls, and how they are typed and checked.

Why two steps: the AI layer only checks that a proposal is well formed (known tool, arguments
that match the schema and its bounds) and turns it into a typed `ProposedAction`; whether it
may happen (distance, permissions, faction, balances, rate) is decided by the authoritative
game layer through an `ActionValidator`, against the world, before anything is applied.
Malformed proposals never reach the validator; they are returned as rejected with a reason.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Literal, Protocol

import orjson
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from server.ai.types import ToolCall

MAX_MONEY_PER_ACTION = 1000


class _Args(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class OfferMission(_Args):
    """Offer the player a job. The server generates and validates the mission itself."""

    theme: str = Field("", max_length=80, description="What the job is about, in a few words.")


class ChangeRelationship(_Args):
    """Change how much you trust the player, after what they said or did."""

    delta: int = Field(ge=-10, le=10)
    reason: str = Field("", max_length=120)


class FollowPlayer(_Args):
    """Start following the player (they asked and you agreed)."""


class StopFollowing(_Args):
    """Stop following the player."""


class Flee(_Args):
    """Run away from the player."""

    reason: str = Field("", max_length=120)


class CallFaction(_Args):
    """Call your faction for backup against the player."""

    reason: str = Field("", max_length=120)


class GiveMoney(_Args):
    """Give the player money (bounded)."""

    amount: int = Field(ge=1, le=MAX_MONEY_PER_ACTION)
    reason: str = Field("", max_length=120)


class TakeMoney(_Args):
    """Take money from the player: a payment they agreed to (bounded)."""

    amount: int = Field(ge=1, le=MAX_MONEY_PER_ACTION)
    reason: str = Field("", max_length=120)


class ShareRumour(_Args):
    """Tell your faction something the player did or said."""

    text: str = Field(min_length=1, max_length=200)


ActionName = Literal[
    "offer_mission",
    "change_relationship",
    "follow_player",
    "stop_following",
    "flee",
    "call_faction",
    "give_money",
    "take_money",
    "share_rumour",
]

ACTION_MODELS: dict[str, type[_Args]] = {
    "offer_mission": OfferMission,
    "change_relationship": ChangeRelationship,
    "follow_player": FollowPlayer,
    "stop_following": StopFollowing,
    "flee": Flee,
    "call_faction": CallFaction,
    "give_money": GiveMoney,
    "take_money": TakeMoney,
    "share_rumour": ShareRumour,
}


def tool_schemas(names: Iterable[str] | None = None) -> tuple[dict[str, Any], ...]:
    """OpenAI `tools` entries for the given actions (all by default).

    Not marked `strict`: with strict tools the SDK's stream helper parses arguments itself and
    raises on a bad one, which would lose the whole reply; here a bad call only loses itself.
    Built once per set of names: every talk offers them, and the schemas never change.
    """
    return _schemas(tuple(names) if names is not None else tuple(ACTION_MODELS))


def tool_names(tools: Iterable[dict[str, Any]]) -> frozenset[str]:
    """The action names a request's `tools` offer."""
    return frozenset(str(t.get("function", {}).get("name", "")) for t in tools)


@functools.lru_cache(maxsize=64)
def _schemas(names: tuple[str, ...]) -> tuple[dict[str, Any], ...]:
    out = []
    for name in names:
        model = ACTION_MODELS[name]
        out.append(
            {
                "type": "function",
                "function": {
                    "name": name,
                    "description": (model.__doc__ or "").strip(),
                    "parameters": model.model_json_schema(),
                },
            }
        )
    return tuple(out)


@dataclass(frozen=True, slots=True)
class ProposedAction:
    """A well-formed action the model proposed; not yet checked against the world."""

    name: str
    args: BaseModel
    call_id: str
    npc_id: str | None
    player_id: str | None


@dataclass(frozen=True, slots=True)
class RejectedAction:
    name: str
    call_id: str
    reason: str


@dataclass(frozen=True, slots=True)
class Verdict:
    ok: bool
    reason: str = ""


class ActionValidator(Protocol):
    """Implemented by the game layer: may this action happen in the world right now?

    Called off the tick, on the AI worker, once per proposed action, before the reply's final
    event. A rejected action is counted and logged by the AI layer and never applied."""

    async def validate(self, action: ProposedAction) -> Verdict: ...


def parse_tool_calls(
    calls: Iterable[ToolCall], *, npc_id: str | None, player_id: str | None
) -> tuple[list[ProposedAction], list[RejectedAction]]:
    """Typed proposals from raw tool calls; unknown tools and bad arguments are rejected."""
    ok: list[ProposedAction] = []
    bad: list[RejectedAction] = []
    for call in calls:
        model = ACTION_MODELS.get(call.name)
        if model is None:
            bad.append(RejectedAction(call.name[:64], call.call_id, "unknown_tool"))
            continue
        try:
            raw = orjson.loads(call.arguments or "{}")
            args = model.model_validate(raw)
        except (orjson.JSONDecodeError, ValidationError):
            bad.append(RejectedAction(call.name, call.call_id, "bad_arguments"))
            continue
        ok.append(ProposedAction(call.name, args, call.call_id, npc_id, player_id))
    return ok, bad
