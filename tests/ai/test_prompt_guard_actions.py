"""Prompt layout, the character/leak guard, moderation, tool-call parsing and call sinks."""

from __future__ import annotations

import asyncio

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from server.ai.actions import GiveMoney, parse_tool_calls, tool_schemas
from server.ai.calls import AiCallRecord, BatchingCallSink, prompt_hash
from server.ai.guard import BlocklistModeration, CharacterGuard
from server.ai.memory import select_memories
from server.ai.prompt import dialogue_instructions, dialogue_messages, mission_messages
from server.ai.types import ToolCall
from tests.ai.conftest import PERSONA, dialogue, mission_ctx, wait_for


@given(text=st.text(max_size=200), name=st.text(min_size=1, max_size=20))
@settings(max_examples=100, deadline=None)
def test_player_text_and_name_never_reach_the_system_part(text: str, name: str) -> None:
    marker = "QQ" + text + "QQ"
    ctx = dialogue(marker, player_name="NN" + name)
    msgs = dialogue_messages(ctx, select_memories(ctx.memories, marker, 600))
    for m in msgs:
        if m.role == "system":
            assert marker not in m.content and "NN" + name not in m.content
    assert msgs[-1].role == "user"


def test_the_prefix_is_stable_and_what_changes_comes_last() -> None:
    a = dialogue("first question")
    b = dialogue("second question", history=(("player", "first question"), ("npc", "Sure.")))
    ma = dialogue_messages(a, select_memories(a.memories, a.player_text, 600))
    mb = dialogue_messages(b, select_memories(b.memories, b.player_text, 600))
    assert ma[:2] == mb[:2]
    assert [m.role for m in mb] == ["system", "system", "user", "assistant", "user"]
    assert prompt_hash("m", "dialogue", ma) != prompt_hash("m", "dialogue", mb)
    assert prompt_hash("m", "mission", mission_messages(mission_ctx())) == prompt_hash(
        "m", "mission", mission_messages(mission_ctx(player_id="other"))
    ), "mission prompts do not name the player, so they can be shared through the cache"


def test_left_out_memories_are_said_in_the_prompt() -> None:
    ctx = dialogue("work")
    sel = select_memories(ctx.memories, ctx.player_text, 16)
    assert sel.left_out == 1
    assert (
        "(1 older or less relevant memories not shown.)" in dialogue_messages(ctx, sel)[-1].content
    )


def test_guard() -> None:
    g = CharacterGuard(dialogue_instructions(PERSONA))
    assert g.problem("Get out of my bar before I call my cousins.") is None
    assert g.problem("As an AI, I can't help.") == "character_break"
    assert g.problem("I'm just a language model") == "character_break"
    assert g.problem("Your character: Rosa Vega, bartender, a member of the Vagos") == "prompt_leak"
    assert (
        g.problem("I know nothing about being a program and never mention rules") == "prompt_leak"
    )


async def test_blocklist_moderation_whole_words() -> None:
    m = BlocklistModeration(["melon"])
    assert not (await m.check("I hate MELON people", "input")).allowed
    assert (await m.check("watermelons are fine", "input")).allowed


def test_tool_schemas_and_parsing() -> None:
    schemas = {t["function"]["name"]: t for t in tool_schemas()}
    assert len(schemas) == 9
    assert (
        schemas["give_money"]["function"]["parameters"]["properties"]["amount"]["maximum"] == 1000
    )
    ok, bad = parse_tool_calls(
        [
            ToolCall("1", "give_money", orjson.dumps({"amount": 5}).decode()),
            ToolCall("2", "give_money", "{not json"),
            ToolCall("3", "flee", '{"reason": "cops", "extra": 1}'),
            ToolCall("4", "x" * 500, "{}"),
        ],
        npc_id="n",
        player_id="p",
    )
    assert len(ok) == 1 and isinstance(ok[0].args, GiveMoney) and ok[0].args.amount == 5
    assert [(b.call_id, b.reason) for b in bad] == [
        ("2", "bad_arguments"),
        ("3", "bad_arguments"),
        ("4", "unknown_tool"),
    ]
    assert len(bad[2].name) == 64


def _rec(i: int) -> AiCallRecord:
    return AiCallRecord("openai", "m", "dialogue", f"h{i}", 1, 2, 3, "ok", "p1", "n1")


async def test_batching_sink_never_blocks_and_counts_drops() -> None:
    written: list[AiCallRecord] = []
    gate = asyncio.Event()

    async def write(batch: list[AiCallRecord]) -> None:
        await gate.wait()
        written.extend(batch)

    dropped: list[int] = []
    sink = BatchingCallSink(write, maxsize=5, batch=3, on_drop=dropped.append)
    sink.start()
    for i in range(12):
        sink.record(_rec(i))  # returns at once even though the writer is stuck
    await wait_for(lambda: sink.dropped > 0)
    gate.set()
    await sink.close()
    assert len(written) + sink.dropped == 12 and sum(dropped) == sink.dropped
    assert [r.prompt_hash for r in written] == sorted(
        (r.prompt_hash for r in written), key=lambda h: int(h[1:])
    )


async def test_batching_sink_survives_a_failing_writer() -> None:
    async def write(batch: list[AiCallRecord]) -> None:
        raise RuntimeError("db down")

    sink = BatchingCallSink(write)
    sink.start()
    sink.record(_rec(1))
    await wait_for(lambda: sink.dropped == 1)
    await sink.close()
