"""The full loop through the real `openai` client against the scripted OpenAI-compatible server
on loopback, on every storage backend: a conversation leaves a memory that the next
conversation's prompt contains; a memory the NPC did not witness is not in its prompt; a
rumour is in the faction-mate's prompt; memories past the token budget are counted in the
prompt and the reply, never silently dropped."""

from __future__ import annotations

from contextlib import aclosing
from typing import Any

import orjson
from opentelemetry.sdk.trace import TracerProvider
from prometheus_client import CollectorRegistry

from config import load_config
from server.ai.calls import MemoryCallSink
from server.ai.service import AiService, DialogueDelta, DialogueReply
from server.ai.types import CallerInfo
from server.gameplay.dialogue_context import build_dialogue_context, remember_conversation
from server.gameplay.memory import MemoryService, MemorySettings, NotableEvent
from server.gameplay.relationships import RelationshipService
from server.gameplay.rumours import RumourMill, RumourSettings
from tests.ai.fake_openai import FakeOpenAI, Reply
from tests.gameplay.memory_support import (
    PlayerRef,
    add_player,
    away,
    eventually,
    make_world,
    persistence,  # noqa: F401  (fixture)
    place_npc,
)


def ai_service(fake: FakeOpenAI, **over: Any) -> AiService:
    config = load_config(
        ai_provider="openai",
        openai_base_url=fake.base_url,
        ai_timeout=5.0,
        ai_max_retries=0,
        ai_rate_free=1000.0,
        **over,
    )
    return AiService.from_config(
        config, CollectorRegistry(), sink=MemoryCallSink(), tracer_provider=TracerProvider()
    )


def last_prompt(fake: FakeOpenAI) -> str:
    return orjson.dumps(fake.chat_requests()[-1].body["messages"]).decode()


async def talk(ai: AiService, ctx: Any) -> DialogueReply:
    final = None
    async with aclosing(ai.talk_stream(ctx, CallerInfo(ctx.player_id, ctx.persona.npc_id))) as s:
        async for ev in s:
            if isinstance(ev, DialogueReply):
                final = ev
            else:
                assert isinstance(ev, DialogueDelta)
    assert final is not None
    return final


async def test_the_next_prompt_remembers_and_only_what_was_witnessed_or_told(
    persistence: Any,  # noqa: F811
    fake: FakeOpenAI,
) -> None:
    repos = persistence.repos
    ai = ai_service(fake)
    try:
        w = make_world()
        x, y = away(w)
        rec = await repos.players.load_or_create("Nico")
        me = PlayerRef(rec.player_id, add_player(w, x, y), "Nico")
        rosa = place_npc(w, x + 2, y, "Rosa Vega", "vagos")
        mate = place_npc(w, x + 150, y, "Vagos Lookout", "vagos")
        stranger = place_npc(w, x + 400, y, "Somebody Else")
        w.step()
        mem = MemoryService(
            repos,
            MemorySettings(witness_radius=20.0),
            rumours=RumourMill(RumourSettings(fanout=2, radius=200.0)),
        )
        rels = RelationshipService(repos.npc_relationships)

        fake.push(Reply(text="Never seen it, cabrón. Try the docks."))
        ctx = await build_dialogue_context(
            w,
            repos,
            rosa,
            me,
            "I lost my lucky zebra lighter here.",
            memory=mem,
            relationships=rels,
        )
        assert ctx is not None
        first = await talk(ai, ctx)
        assert first.outcome == "ok" and "docks" in first.text
        assert "zebra" not in "".join(m.text for m in ctx.memories)
        await remember_conversation(mem, rels, ctx, first.text, outcome="friendly")
        mem.witness(
            w,
            NotableEvent(
                kind="robbery",
                summary="Nico robbed the liquor store on the corner",
                x=x,
                y=y,
                player_id=rec.player_id,
                weight=90,
            ),
        )

        # Another process (a fresh service over the same storage) talks to Rosa next.
        later = MemoryService(repos)

        async def stored() -> bool:
            got = await repos.npc_memory.recent(ctx.persona.npc_id, rec.player_id)
            return len(got) == 2

        await eventually(stored)
        fake.push(Reply(text="You again. Find your lighter?"))
        ctx2 = await build_dialogue_context(
            w, repos, rosa, me, "Any news about my lighter?", memory=later, relationships=rels
        )
        assert ctx2 is not None
        second = await talk(ai, ctx2)
        prompt = last_prompt(fake)
        assert "lucky zebra lighter" in prompt  # what the player said last time
        assert "Try the docks" in prompt  # and what Rosa answered
        assert "liquor store" in prompt  # she saw the robbery herself
        assert len(second.memories_used) == 2 and second.memories_left_out == 0
        assert "friendly acquaintance" in prompt or "known face" in prompt

        # The lookout was not there but was told by Rosa; the stranger knows nothing.
        await eventually(
            lambda: _has(repos, w.identity(mate).key, rec.player_id)  # type: ignore[union-attr]
        )
        fake.push(Reply(text="Heard about you."))
        ctx3 = await build_dialogue_context(w, repos, mate, me, "Hey", memory=later)
        assert ctx3 is not None
        await talk(ai, ctx3)
        prompt = last_prompt(fake)
        assert "Rosa Vega told me: Nico robbed the liquor store" in prompt
        assert "zebra" not in prompt  # a private conversation is not a rumour

        fake.push(Reply(text="Who are you?"))
        ctx4 = await build_dialogue_context(w, repos, stranger, me, "Hey", memory=later)
        assert ctx4 is not None
        await talk(ai, ctx4)
        prompt = last_prompt(fake)
        assert "liquor store" not in prompt and "zebra" not in prompt
    finally:
        await ai.close()


async def _has(repos: Any, key: str, player_id: str) -> bool:
    return bool(await repos.npc_memory.recent(key, player_id))


async def test_memories_past_the_budget_are_counted_in_the_prompt(
    persistence: Any,  # noqa: F811
    fake: FakeOpenAI,
) -> None:
    repos = persistence.repos
    ai = ai_service(fake, ai_memory_token_budget=40)
    try:
        w = make_world()
        x, y = away(w)
        rec = await repos.players.load_or_create("Nico")
        me = PlayerRef(rec.player_id, add_player(w, x, y), "Nico")
        npc = place_npc(w, x + 1, y, "Old Timer")
        w.step()
        mem = MemoryService(repos)
        key = w.identity(npc).key  # type: ignore[union-attr]
        for i in range(6):
            mem.remember(key, "event", f"Story {i}: the night the casino burned down.", weight=50)
        fake.push(Reply(text="Long story."))
        ctx = await build_dialogue_context(
            w, repos, npc, me, "Tell me about the casino", memory=mem
        )
        assert ctx is not None and len(ctx.memories) == 6
        reply = await talk(ai, ctx)
        assert 0 < len(reply.memories_used) < 6
        assert reply.memories_left_out == 6 - len(reply.memories_used)
        assert f"({reply.memories_left_out} older or less relevant memories not shown.)" in (
            last_prompt(fake)
        )
    finally:
        await ai.close()
