"""Fixtures: the scripted OpenAI-compatible server, and AiServices wired to it."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from prometheus_client import CollectorRegistry

from config import load_config
from server.ai.calls import MemoryCallSink
from server.ai.context import (
    DialogueContext,
    Memory,
    MissionContext,
    NpcPersona,
    Place,
    Relationship,
)
from server.ai.service import AiService
from tests.ai.fake_openai import FakeOpenAI

# Short enough that breaker and timeout tests finish quickly, long enough for a loaded machine.
FAST = {
    "ai_timeout": 2.0,
    "ai_max_retries": 0,
    "ai_breaker_threshold": 3,
    "ai_breaker_reset": 0.5,
    "ai_queue_timeout": 0.5,
    "ai_moderation": "blocklist",
}


class Built:
    def __init__(
        self,
        svc: AiService,
        registry: CollectorRegistry,
        sink: MemoryCallSink,
        spans: InMemorySpanExporter,
    ) -> None:
        self.svc = svc
        self.registry = registry
        self.sink = sink
        self.spans = spans

    def metric(self, name: str, labels: dict[str, str] | None = None) -> float:
        v = self.registry.get_sample_value(name, labels or {})
        return 0.0 if v is None else v


@pytest.fixture
async def build(fake: FakeOpenAI) -> AsyncIterator[Callable[..., Built]]:
    made: list[AiService] = []

    def make(**overrides: Any) -> Built:
        settings = {
            "ai_provider": "openai",
            "openai_base_url": fake.base_url,
            **FAST,
            **{k: v for k, v in overrides.items() if k not in ("cache", "validator")},
        }
        config = load_config(**settings)
        registry = CollectorRegistry()
        sink = MemoryCallSink()
        spans = InMemorySpanExporter()
        tp = TracerProvider()
        tp.add_span_processor(SimpleSpanProcessor(spans))
        svc = AiService.from_config(
            config,
            registry,
            cache=overrides.get("cache"),
            sink=sink,
            validator=overrides.get("validator"),
            tracer_provider=tp,
        )
        made.append(svc)
        return Built(svc, registry, sink, spans)

    yield make
    for svc in made:
        await svc.close()


PERSONA = NpcPersona("npc-7", "Rosa Vega", "bartender", "Vagos", "sharp, loyal", "nervous")


def dialogue(text: str = "Got any work for me?", **kw: Any) -> DialogueContext:
    base: dict[str, Any] = {
        "persona": PERSONA,
        "player_id": "p1",
        "player_name": "Nico",
        "player_text": text,
        "relationship": Relationship(trust=25, conversations=2),
        "location": "Grove Street",
        "faction_events": ("The Ballas hit a Vagos stash last night",),
        "memories": (
            Memory("m1", "Nico paid his tab in cash and tipped well.", 60, 5.0),
            Memory("m2", "Nico asked about work at the docks.", 40, 30.0),
        ),
    }
    base.update(kw)
    return DialogueContext(**base)


def mission_ctx(**kw: Any) -> MissionContext:
    base: dict[str, Any] = {
        "player_id": "p1",
        "giver": PERSONA,
        "places": (Place("Docks", 100.0, -200.0), Place("Vinewood Sign", 700.0, 1200.0)),
        "npc_ids": (11, 12),
        "factions": ("Vagos", "Ballas"),
        "difficulty_hint": 5,
        "max_reward": 3000,
    }
    base.update(kw)
    return MissionContext(**base)


async def wait_for(pred: Callable[[], bool], timeout: float = 5.0) -> None:
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while not pred():
        if loop.time() > end:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.02)
