"""The offline grammar and mission templates: deterministic, varied, always valid."""

from __future__ import annotations

from dataclasses import replace

from hypothesis import given, settings
from hypothesis import strategies as st

from server.ai.context import Memory, MissionContext, NpcPersona, Place, Relationship
from server.ai.missions import BringNpc, TalkToNpc, check_against
from server.ai.offline import OfflineProvider, intent_of, offline_mission, offline_reply
from server.ai.prompt import mission_messages
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


def test_a_meeting_names_the_npc_to_talk_to() -> None:
    ctx = mission_ctx(theme="a meeting", npc_names=("Lamar Davis", "Big Smoke"))
    spec = offline_mission(ctx, 7)
    talks = [o for o in spec.objectives if isinstance(o, TalkToNpc)]
    assert len(talks) == 1 and talks[0].npc_id in (11, 12)
    name = ctx.npc_name(talks[0].npc_id)
    assert name is not None and name in spec.title and name in spec.description
    assert check_against(spec, ctx) == []
    # Without names it still works, and says "a contact".
    plain = offline_mission(replace(ctx, npc_names=()), 7)
    assert plain.objectives == spec.objectives and "a contact" in plain.description


def test_an_escort_brings_a_named_npc_to_an_offered_place() -> None:
    ctx = mission_ctx(theme="an escort", npc_names=("Lamar Davis", "Big Smoke"))
    for seed in range(20):
        spec = offline_mission(ctx, seed)
        (bring,) = [o for o in spec.objectives if isinstance(o, BringNpc)]
        assert bring.npc_id in ctx.npc_ids and bring.place in {p.name for p in ctx.places}
        assert f"{ctx.npc_name(bring.npc_id)} needs to get to {bring.place}" in spec.description
        assert check_against(spec, ctx) == []


def test_a_long_name_still_makes_a_valid_title() -> None:
    ctx = mission_ctx(theme="a meeting", npc_ids=(11,), npc_names=("X" * 64,))
    spec = offline_mission(ctx, 1)
    assert len(spec.title) <= 80 and check_against(spec, ctx) == []


def test_without_npcs_no_npc_objective_is_made() -> None:
    for theme in ("a meeting", "an escort", ""):
        for seed in range(10):
            spec = offline_mission(mission_ctx(npc_ids=(), theme=theme), seed)
            assert not any(isinstance(o, TalkToNpc | BringNpc) for o in spec.objectives)


def test_the_mission_prompt_names_the_npcs() -> None:
    ctx = mission_ctx(npc_names=("Lamar Davis",))
    (_, user) = mission_messages(ctx)
    assert "NPC ids: 11 (<<<Lamar Davis>>>), 12." in user.content


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
