"""The AI layer: language-model calls for NPC dialogue and missions, strictly off the tick.

The game layer builds one `AiService` at start (`AiService.from_config(config, registry,
cache=..., sink=..., validator=...)`) and calls it from its AI workers with snapshots of the
world (`DialogueContext`, `MissionContext`). Nothing here reads the world or runs on the tick.
"""

from __future__ import annotations

from server.ai.actions import ActionValidator, ProposedAction, RejectedAction, Verdict
from server.ai.calls import AiCallRecord, AiCallSink, BatchingCallSink, MemoryCallSink
from server.ai.context import (
    DialogueContext,
    Memory,
    MissionContext,
    NpcPersona,
    Place,
    Relationship,
)
from server.ai.missions import MissionSpec
from server.ai.service import (
    AiService,
    DialogueDelta,
    DialogueEvent,
    DialogueReply,
    MissionResult,
)
from server.ai.types import CallerInfo, Outcome

__all__ = [
    "ActionValidator",
    "AiCallRecord",
    "AiCallSink",
    "AiService",
    "BatchingCallSink",
    "CallerInfo",
    "DialogueContext",
    "DialogueDelta",
    "DialogueEvent",
    "DialogueReply",
    "Memory",
    "MemoryCallSink",
    "MissionContext",
    "MissionResult",
    "MissionSpec",
    "NpcPersona",
    "Outcome",
    "Place",
    "ProposedAction",
    "RejectedAction",
    "Relationship",
    "Verdict",
]
