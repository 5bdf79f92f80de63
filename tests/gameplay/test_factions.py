"""Faction rules through the service, on every backend, and the stance hysteresis as a
state machine (hypothesis)."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry

from server.gameplay.events import FactionChanged, GameplayEvent, RelationshipChanged
from server.gameplay.factions import FactionError, FactionService
from server.gameplay.metrics import GameplayMetrics
from server.persistence.stance import DEFAULT_RULE, STANCES, StanceRule, stance_after

CREATE = {"create:faction"}


def _service(p: Any) -> tuple[FactionService, list[GameplayEvent], GameplayMetrics]:
    events: list[GameplayEvent] = []
    metrics = GameplayMetrics(CollectorRegistry())
    return FactionService(p.repos, events.append, metrics), events, metrics


async def _players(p: Any, *names: str) -> list[str]:
    return [(await p.repos.players.load_or_create(n)).player_id for n in names]


async def _code(coro: Any) -> str:
    with pytest.raises(FactionError) as err:
        await coro
    return err.value.code


async def test_create_needs_permission_and_makes_a_leader(persistence: Any) -> None:
    svc, events, metrics = _service(persistence)
    (boss,) = await _players(persistence, "boss")
    assert await _code(svc.create(boss, "families", permissions=set())) == "forbidden"
    assert await _code(svc.create(boss, "Bad Name!", permissions=CREATE)) == "bad_name"
    state = await svc.create(boss, "families", "The Families", permissions=CREATE)
    assert (state.name, state.display_name, state.members) == ("families", "The Families", 1)
    assert (await svc.membership(boss)).rank == "leader"
    assert await _code(svc.create(boss, "families", permissions=CREATE)) == "exists"
    assert await _code(svc.create(boss, "other", permissions=CREATE)) == "already_member"
    assert events == [
        FactionChanged(
            at=events[0].at,
            faction="families",
            change="created",
            player_id=boss,
            actor_id=boss,
            rank=3,
        )
    ]
    reg = metrics.registry
    assert reg.get_sample_value("ganggpt_faction_events_total", {"event": "created"}) == 1
    assert (
        reg.get_sample_value("ganggpt_faction_requests_rejected_total", {"code": "forbidden"}) == 1
    )


async def test_ranks_promote_demote_kick_leave(persistence: Any) -> None:
    svc, events, _ = _service(persistence)
    boss, a, b, outsider = await _players(persistence, "boss", "a", "b", "outsider")
    await svc.create(boss, "families", permissions=CREATE)
    assert await _code(svc.join(a, "nowhere")) == "unknown_faction"
    assert (await svc.join(a, "families")).rank == "recruit"
    await svc.join(b, "families")
    assert await _code(svc.join(a, "families")) == "already_member"

    assert await _code(svc.promote(a, b)) == "rank"  # a recruit cannot promote
    assert (await svc.promote(boss, a)).rank == "member"
    assert (await svc.promote(boss, a)).rank == "officer"
    assert (await svc.promote(a, b)).rank == "member"  # an officer promotes below itself
    assert await _code(svc.promote(a, boss)) == "rank"  # never above yourself
    assert await _code(svc.kick(a, boss)) == "rank"
    assert await _code(svc.kick(boss, outsider)) == "not_same_faction"
    assert await _code(svc.demote(boss, boss)) == "self"

    assert (await svc.demote(boss, a)).rank == "member"
    await svc.kick(boss, a)
    assert await svc.membership(a) is None
    assert await _code(svc.leave(boss)) == "leader_must_hand_over"

    # The leader hands over by promoting an officer.
    assert (await svc.promote(boss, b)).rank == "officer"
    assert (await svc.promote(boss, b)).rank == "leader"
    assert (await svc.membership(boss)).rank == "officer"
    await svc.leave(boss)
    await svc.leave(b)  # the last member may leave
    assert await svc.members("families") == []
    changes = [e.change for e in events if isinstance(e, FactionChanged)]
    assert changes[:4] == ["created", "joined", "joined", "promoted"]
    assert changes.count("kicked") == 1 and changes[-2:] == ["left", "left"]


async def test_officer_promotes_below_own_rank(persistence: Any) -> None:
    svc, _, _ = _service(persistence)
    boss, off, rec = await _players(persistence, "boss", "off", "rec")
    await svc.create(boss, "vagos", permissions=CREATE)
    await svc.join(off, "vagos")
    await svc.join(rec, "vagos")
    await svc.promote(boss, off)
    await svc.promote(boss, off)  # officer
    assert (await svc.promote(off, rec)).rank == "member"
    assert await _code(svc.promote(off, rec)) == "rank"  # member -> officer is not below
    assert await _code(svc.demote(rec, off)) == "rank"
    assert (await svc.demote(off, rec)).rank == "recruit"
    assert await _code(svc.demote(off, rec)) == "bottom_rank"


async def test_member_killed_shifts_once_and_war_follows_with_hysteresis(
    persistence: Any,
) -> None:
    svc, events, metrics = _service(persistence)
    for name in ("ballas", "vagos"):
        await persistence.repos.factions.create(name)
    for i in range(8):  # 8 kills x -8 = -64: war
        await svc.member_killed("ballas", "vagos", event_id=f"kill:{i}")
    assert await svc.member_killed("ballas", "vagos", event_id="kill:7") is None  # repeat
    rel = await svc.relationship("vagos", "ballas")
    assert (rel.strength, rel.stance) == (-64, "war")
    war = [e for e in events if isinstance(e, RelationshipChanged) and e.stance_changed]
    assert [(e.previous_stance, e.stance) for e in war] == [
        ("neutral", "hostile"),
        ("hostile", "war"),
    ]
    changed = await svc.shift("ballas", "vagos", 20, reason="truce")
    assert changed is not None and (changed.strength, changed.stance) == (-44, "war")
    changed = await svc.shift("ballas", "vagos", 5, reason="truce")
    assert changed is not None and (changed.previous_stance, changed.stance) == (
        "war",
        "hostile",
    )
    assert await svc.prompt_lines("vagos") == ("vagos is hostile with ballas (-39)",)
    assert await svc.member_killed("ballas", "ballas", event_id="x") is None
    reg = metrics.registry
    assert (
        reg.get_sample_value(
            "ganggpt_faction_relationship_changes_total", {"reason": "member_killed"}
        )
        == 8
    )
    assert reg.get_sample_value("ganggpt_faction_stance_changes_total", {"stance": "war"}) == 1


# --- the stance as a state machine ---
def _band(strength: int, rule: StanceRule) -> str:
    if strength < rule.hostile_below:
        return "hostile"
    if strength > rule.friendly_above:
        return "friendly"
    return "neutral"


@given(st.lists(st.integers(-100, 100), min_size=1, max_size=60))
def test_stance_hysteresis_holds_on_any_walk(walk: list[int]) -> None:
    rule = DEFAULT_RULE
    stance = "neutral"
    for s in walk:
        new = stance_after(stance, s, rule)
        assert new in STANCES
        # Entering: crossing the outer threshold always gives war / alliance.
        if s <= rule.war_at:
            assert new == "war"
        if s >= rule.ally_at:
            assert new == "allied"
        # Staying: inside the gap the previous war / alliance holds.
        if stance == "war" and s <= rule.peace_above:
            assert new == "war"
        if stance == "allied" and s >= rule.ally_until:
            assert new == "allied"
        # Leaving only past the inner threshold; never war without a war threshold.
        if new == "war":
            assert s <= rule.war_at or (stance == "war" and s <= rule.peace_above)
        if new == "allied":
            assert s >= rule.ally_at or (stance == "allied" and s >= rule.ally_until)
        if new not in ("war", "allied"):
            assert new == _band(s, rule)
        stance = new


@given(st.integers(-59, -41), st.integers(1, 30))
def test_no_flapping_inside_the_gap(start: int, wobble: int) -> None:
    """Once at war, strength wobbling in (-60, -40] never ends it."""
    stance = stance_after("neutral", -60)
    for s in (start, max(-60, start - wobble), min(-40, start + wobble), start):
        stance = stance_after(stance, s)
        assert stance == "war"


def test_rule_thresholds_must_increase() -> None:
    with pytest.raises(ValueError):
        StanceRule(war_at=-30, peace_above=-40)
    with pytest.raises(ValueError):
        StanceRule(war_at=-100)
