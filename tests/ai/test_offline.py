"""The offline grammar and mission templates: deterministic, varied, always valid."""

from __future__ import annotations

from dataclasses import replace

from hypothesis import given, settings
from hypothesis import strategies as st

from server.ai.context import Memory, MissionContext, NpcPersona, Place, Relationship
from server.ai.missions import check_against
from server.ai.offline import OfflineProvider, intent_of, offline_mission, offline_reply
from server.ai.types import CompletionRequest
from tests.ai.conftest import PERSONA, dialogue, mission_ctx

texts = st.text(min_size=0, max_size=80)
names = st.text(st.characters(categories=("L",)), min_size=1, max_size=12)


@given(text=texts, seed=st.integers(0, 2**32), turn=st.integers(0, 6), trust=st.integers(-100, 100))
@settings(max_examples=80, deadline=None)
def test_same_inputs_same_line(text: str, seed: int, turn: int, trust: int) -> None:
    history = tuple(("player" if i % 2 else "npc", f"line {i}") for i in range(turn))
    ctx = dialogue(text, history=history, relationship=Relationship(trust, 3))
    a = offline_reply(ctx, seed)
    assert a == offline_reply(ctx, seed)
    assert a.strip()


@given(seed=st.integers(0, 2**32))
@settings(max_examples=60, deadline=None)
def test_asking_the_same_thing_again_gets_another_line(seed: int) -> None:
    ctx = dialogue("Got any work for me?")
    first = offline_reply(ctx, seed)
    later = replace(
        ctx, history=(("player", ctx.player_text), ("npc", first), ("player", "hm"), ("npc", "ok"))
    )
    assert offline_reply(later, seed) != first


def test_lines_come_from_the_npc_and_its_memories() -> None:
    ctx = dialogue("Who are you?")
    assert "Rosa Vega" in offline_reply(ctx) and "bartender" in offline_reply(ctx).lower()
    mems = (Memory("r", "Nico shot a Ballas runner", 80, 1.0, kind="rumour"),)
    lines = {offline_reply(dialogue("hello", memories=mems), s) for s in range(40)}
    assert any("shot a Ballas runner" in line for line in lines)
    assert len(lines) > 10, "the grammar should vary across seeds"
    hostile = {
        offline_reply(dialogue("hi", relationship=Relationship(-90, 5)), s) for s in range(20)
    }
    friendly = {
        offline_reply(dialogue("hi", relationship=Relationship(90, 5)), s) for s in range(20)
    }
    assert hostile.isdisjoint(friendly)


def test_intents() -> None:
    assert intent_of("any JOB going?") == "work"
    assert intent_of("seen the cops?") == "police"
    assert intent_of("what's your name") == "self"
    assert intent_of("blue") == "other"


persona = st.builds(
    NpcPersona,
    npc_id=st.text(min_size=1, max_size=5),
    name=names,
    role=st.sampled_from(["dealer", "mechanic", "bartender"]),
    faction=st.one_of(st.none(), st.sampled_from(["Vagos", "Ballas", "Families"])),
)
places = st.lists(
    st.builds(Place, name=names, x=st.floats(-4000, 4000), y=st.floats(-4000, 4000)),
    max_size=4,
    unique_by=lambda p: p.name,
)


@given(
    giver=persona,
    places=places,
    npcs=st.lists(st.integers(0, 10_000), max_size=4),
    factions=st.lists(
        st.sampled_from(["Vagos", "Ballas", "Families", "Lost MC"]), max_size=3, unique=True
    ),
    hint=st.integers(1, 10),
    max_reward=st.integers(0, 10_000),
    seed=st.integers(0, 2**32),
)
@settings(max_examples=150, deadline=None)
def test_offline_missions_always_fit_their_world(
    giver: NpcPersona,
    places: list[Place],
    npcs: list[int],
    factions: list[str],
    hint: int,
    max_reward: int,
    seed: int,
) -> None:
    if not places and not npcs:
        return
    ctx = MissionContext("p1", giver, tuple(places), tuple(npcs), tuple(factions), hint, max_reward)
    spec = offline_mission(ctx, seed)
    assert check_against(spec, ctx) == []
    assert 1 <= spec.difficulty <= 10 and abs(spec.difficulty - hint) <= 1
    assert spec == offline_mission(ctx, seed)


async def test_offline_provider_streams_what_it_completes() -> None:
    p = OfflineProvider()
    ctx = dialogue("Any work? I need cash.")
    req = CompletionRequest("dialogue", (), dialogue=ctx, seed=3)
    whole = await p.complete(req)
    chunks = [c async for c in p.stream(req)]
    assert "".join(c.delta for c in chunks if c.final is None) == whole.text
    assert chunks[-1].final == whole
    m = await p.complete(CompletionRequest("mission", (), mission=mission_ctx(), seed=3))
    assert m.parsed is not None and check_against(m.parsed, mission_ctx()) == []  # type: ignore[arg-type]
    assert await p.embed(["x"]) is None
    assert PERSONA.name


# --- actions the offline grammar proposes (server/ai/offline.py offline_actions) ---------


def test_offline_actions_follow_what_the_player_asked() -> None:
    from server.ai.offline import offline_actions, offline_tool_calls

    assert offline_actions(dialogue("follow me")) == ("follow_player",)
    assert offline_actions(dialogue("stop following me")) == ("stop_following",)
    assert offline_actions(dialogue("any work going?")) == ("offer_mission",)
    assert offline_actions(dialogue("hello")) == ()
    # Nothing for a player the NPC distrusts, but anyone can scare a loner away.
    assert offline_actions(dialogue("follow me", relationship=Relationship(-50, 3))) == ()
    loner = replace(PERSONA, faction=None)
    assert offline_actions(dialogue("I will kill you", persona=loner)) == ("flee",)
    # Only the tools the request offered.
    assert offline_tool_calls(dialogue("follow me"), frozenset({"offer_mission"})) == ()


async def test_offline_provider_proposes_only_offered_tools_and_says_so() -> None:
    from server.ai.actions import tool_schemas

    ctx = dialogue("Follow me, please.")
    with_tools = await OfflineProvider().complete(
        CompletionRequest("dialogue", (), tools=tool_schemas(), dialogue=ctx)
    )
    assert [c.name for c in with_tools.tool_calls] == ["follow_player"]
    without = await OfflineProvider().complete(CompletionRequest("dialogue", (), dialogue=ctx))
    assert without.tool_calls == () and without.text != with_tools.text
