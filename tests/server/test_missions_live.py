"""Missions through real sockets: offered -> accepted -> completed by walking to the place,
paid once however often the client claims it, refusals, abandoning, expiry, listing.

The offline provider (the default) generates the missions; a theme naming "a delivery" asks
it for a reach-a-place job ("a meeting": talk to an NPC near the giver, "an escort": bring
one somewhere), so the test knows what to do without a model.
"""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
import pytest

from protocol.catalogue import ErrorCode
from server.app import Server
from server.world.identity import GANGS
from tests.server.conftest import Client, ServerFactory, open_client

pytestmark = pytest.mark.timeout(60)

TOWN: dict[str, Any] = {
    "npc_count": 120,
    "spawn_area_size": 50.0,
    "mission_check_interval": 0.1,
}


async def send(c: Client, **msg: Any) -> None:
    await c.ws.send(orjson.dumps(msg).decode())


def events(c: Client, kind: str, start: int = 0) -> list[dict[str, Any]]:
    return [t["data"] for t in c.texts[start:] if t.get("op") == "event" and t["type"] == kind]


async def next_event(
    c: Client, kind: str, start: int, timeout: float = 10.0, **match: Any
) -> dict[str, Any]:
    """The first `event` of this type since `c.texts[start]` whose data has `match`."""

    def found() -> dict[str, Any] | None:
        for d in events(c, kind, start):
            if all(d.get(k) == v for k, v in match.items()):
                return d
        return None

    await c.until(lambda _c: found() is not None, timeout)
    got = found()
    assert got is not None
    return got


async def refusal(c: Client, start: int, timeout: float = 10.0) -> dict[str, Any]:
    await c.until(lambda c: any(t.get("op") == "error" for t in c.texts[start:]), timeout)
    return next(t for t in c.texts[start:] if t.get("op") == "error")


async def gang_npc(c: Client) -> tuple[int, str]:
    """A gang NPC in view (its net id and faction), found with `who` like a client would."""
    await c.until(lambda c: sum(1 for e in c.mirror.entities.values() if e.kind == 2) >= 10)
    ids = [n for n, e in c.mirror.entities.items() if e.kind == 2][:64]
    start = len(c.texts)
    await send(c, op="who", ids=ids)
    who = await c.text("who")
    assert c.texts.index(who) >= start
    for e in who["entities"]:
        if e.get("faction") in GANGS:
            return int(e["id"]), str(e["faction"])
    raise AssertionError(f"no gang NPC among {who['entities']}")


async def offered(c: Client, npc: int, theme: str = "a delivery") -> dict[str, Any]:
    start = len(c.texts)
    await send(c, op="mission", action="request", npc=npc, theme=theme)
    return await next_event(c, "mission", start, status="offered")


async def walk_to(c: Client, x: float, y: float) -> None:
    await c.walk(x, y, speed=40.0, rate=20.0)


async def test_mission_offered_accepted_completed_by_walking_there_pays_once(
    start: ServerFactory,
) -> None:
    srv: Server = await start(**TOWN)
    c = await open_client(srv.url, "Courier")
    npc, faction = await gang_npc(c)

    offer = await offered(c, npc)
    assert offer["giver"] == {"npc": npc, "name": offer["giver"]["name"], "faction": faction}
    (goal,) = offer["objectives"]
    assert goal["kind"] == "reach_place" and goal["done"] is False and goal["progress"] == 0.0
    assert 1 <= offer["difficulty"] <= 10 and offer["reward"]["money"] > 0
    assert offer["expires_at"] > 0
    impact = {f["faction"]: f["delta"] for f in offer["faction_impact"]}
    rival = next(f for f in impact if f != faction)  # working for a gang hurts its rival
    mid = offer["id"]

    # Claiming it before doing it: refused, nothing paid.
    at = len(c.texts)
    await send(c, op="mission", action="complete", id=mid)
    err = await refusal(c, at)
    assert err["code"] == ErrorCode.MISSION_REFUSED and err["message"].startswith("not_accepted")

    at = len(c.texts)
    await send(c, op="mission", action="accept", id=mid)
    accepted = await next_event(c, "mission", at, status="accepted")
    assert accepted["deadline"] > 0 and "expires_at" not in accepted

    at = len(c.texts)
    await send(c, op="mission", action="complete", id=mid)
    err = await refusal(c, at)
    assert err["message"].startswith("incomplete")

    money_before = srv.state.players[c.mirror.player_id].money  # type: ignore[index]
    at = len(c.texts)
    await walk_to(c, goal["x"], goal["y"])
    done = await next_event(c, "mission", at, status="completed")
    progress = events(c, "mission.progress", at)
    assert progress and progress[-1]["complete"] is True
    assert done["paid"] == offer["reward"]["money"] and done["repeated"] is False
    assert done["objectives"][0]["done"] is True
    (rel,) = [r for r in done["relations"] if r["other"] == rival]
    assert rel["faction"] == faction and rel["delta"] == impact[rival]
    assert rel["strength"] == impact[rival]  # from neutral 0, once
    money = events(c, "money", at)
    assert [(m["delta"], m["reason"]) for m in money] == [(offer["reward"]["money"], "mission")]
    assert money[0]["money"] == money_before + offer["reward"]["money"]

    # Claimed again (twice): the same answer, nothing paid.
    for _ in range(2):
        at = len(c.texts)
        await send(c, op="mission", action="complete", id=mid)
        again = await next_event(c, "mission", at, status="completed")
        assert again["repeated"] is True and again["paid"] == 0
    await c.drain(0.3)
    assert len(events(c, "money")) == 1
    pid = c.mirror.player_id
    assert pid is not None
    repos = srv.state.persistence.repos
    record = await repos.players.get(pid)
    assert record is not None and record.money == money_before + offer["reward"]["money"]
    assert srv.state.players[pid].money == record.money
    # One ledger entry: the completion's own (the money event is not recorded a second time).
    await c.drain(0.3)
    assert [e.delta for e in await repos.players.ledger(pid)] == [offer["reward"]["money"]]
    strength = (await srv.state.game.missions.factions.relationship(faction, rival)).strength
    # The tracker checked it, on its own timer (not from the tick).
    passes = srv.state.metrics.registry.get_sample_value(
        "ganggpt_mission_tracker_pass_seconds_count"
    )
    assert passes is not None and passes > 0
    assert srv.state.metrics.registry.get_sample_value("ganggpt_missions_completed_total") == 1
    assert (
        srv.state.metrics.registry.get_sample_value("ganggpt_mission_completion_repeats_total") == 2
    )
    assert strength == impact[rival]


async def test_refusals_abandon_list_and_expiry(start: ServerFactory) -> None:
    srv = await start(**TOWN, mission_offer_ttl=1.0, mission_open_offers=2)
    c = await open_client(srv.url, "Drifter")
    npc, _ = await gang_npc(c)

    at = len(c.texts)
    await send(c, op="mission", action="accept", id="no-such-mission")
    assert (await refusal(c, at))["message"].startswith("unknown_mission")

    at = len(c.texts)
    await send(c, op="mission", action="dance")
    assert (await refusal(c, at))["code"] == ErrorCode.BAD_FIELD

    at = len(c.texts)
    await send(c, op="mission", action="request", npc=65000)
    assert (await refusal(c, at))["code"] == ErrorCode.UNKNOWN_ENTITY

    first = await offered(c, npc)
    second = await offered(c, npc, "a stakeout")
    at = len(c.texts)
    await send(c, op="mission", action="request", npc=npc)
    assert (await refusal(c, at))["message"].startswith("too_many_offers")

    at = len(c.texts)
    await send(c, op="mission", action="abandon", id=second["id"])
    gone = await next_event(c, "mission", at, status="failed", id=second["id"])
    assert gone["reason"] == "abandoned"

    # Nobody accepts the first: it expires (offer TTL 1 s), and the player is told.
    expired = await next_event(c, "mission", 0, timeout=15, status="expired", id=first["id"])
    assert expired["title"] == first["title"]
    at = len(c.texts)
    await send(c, op="mission", action="accept", id=first["id"])
    assert (await refusal(c, at))["message"].startswith("not_offered")

    at = len(c.texts)
    await send(c, op="mission", action="list")
    listed = await next_event(c, "mission.list", at)
    states = {m["id"]: m["status"] for m in listed["missions"]}
    assert states == {first["id"]: "expired", second["id"]: "failed"}
    assert srv.state.metrics.errors.labels(code="MISSION_REFUSED")._value.get() == 3


async def test_too_many_requests_at_once_are_refused_busy(start: ServerFactory) -> None:
    srv = await start(**TOWN)
    c = await open_client(srv.url, "Eager")
    at = len(c.texts)
    for _ in range(8):
        await send(c, op="mission", action="list")
    await c.until(lambda c: len(events(c, "mission.list", at)) >= 1)
    await c.drain(0.5)
    busy = [t for t in c.texts[at:] if t.get("op") == "error"]
    answered = events(c, "mission.list", at)
    assert len(answered) + len(busy) == 8 and len(answered) >= 4
    assert all(b["message"].startswith("busy") for b in busy)


def following(srv: Server, npc: int) -> int:
    """The net id NPC `npc` follows (-1: nobody)."""
    w = srv.state.world
    slot = w.npc_slot(npc)
    return -1 if slot is None else int(w.follow.target[slot])


async def test_a_meeting_is_done_by_talking_to_the_npc_it_names(start: ServerFactory) -> None:
    srv = await start(**TOWN)
    c = await open_client(srv.url, "Messenger")
    giver, _ = await gang_npc(c)
    # "a meeting" asks the offline generator for a talk_to_npc job with an NPC near the giver.
    offer = await offered(c, giver, "a meeting")
    (goal,) = offer["objectives"]
    target = goal["npc_id"]
    ident = srv.state.world.identity(target)
    assert goal["kind"] == "talk_to_npc" and target != giver and ident is not None
    assert goal["npc_name"] == ident.name and ident.name in offer["description"]
    at = len(c.texts)
    await send(c, op="mission", action="accept", id=offer["id"])
    await next_event(c, "mission", at, status="accepted")
    await c.drain(0.3)
    assert not events(c, "mission.progress", at)  # not talked to yet: nothing done

    at = len(c.texts)
    await send(c, op="talk", npc=target, text="I hear you have something for me.")
    said = await c.text("npc_say")
    assert said["npc"] == target
    done = await next_event(c, "mission", at, status="completed")
    assert done["objectives"][0]["done"] is True and done["paid"] == offer["reward"]["money"]


async def test_an_escort_follows_the_player_and_is_done_at_the_place(
    start: ServerFactory,
) -> None:
    srv = await start(**TOWN)
    srv.state.game.missions.escort_speed = 25.0  # a sprint: the test need not wait for a jog
    c = await open_client(srv.url, "Chauffeur")
    giver, _ = await gang_npc(c)
    offer = await offered(c, giver, "an escort")
    (goal,) = offer["objectives"]
    target = goal["npc_id"]
    ident = srv.state.world.identity(target)
    assert goal["kind"] == "bring_npc" and target != giver and ident is not None
    assert goal["npc_name"] == ident.name and goal["place"] in offer["description"]
    await c.drain(0.3)
    assert following(srv, target) == -1  # an offer moves nobody

    at = len(c.texts)
    await send(c, op="mission", action="accept", id=offer["id"])
    await next_event(c, "mission", at, status="accepted")
    await c.until(lambda _c: following(srv, target) == c.nid)

    at = len(c.texts)
    await walk_to(c, goal["x"], goal["y"])
    done = await next_event(c, "mission", at, timeout=20.0, status="completed")
    assert done["objectives"][0]["done"] is True
    at_place = srv.state.world.entity_xy(target)
    assert at_place is not None
    assert (at_place[0] - goal["x"]) ** 2 + (at_place[1] - goal["y"]) ** 2 <= goal["radius_m"] ** 2
    # The mission is over: the NPC stops following and wanders again.
    await c.until(lambda _c: following(srv, target) == -1)


async def test_an_abandoned_escort_or_a_player_who_leaves_lets_the_npc_go_until_they_return(
    start: ServerFactory,
) -> None:
    srv = await start(**TOWN)
    c = await open_client(srv.url, "Quitter")
    giver, _ = await gang_npc(c)
    first = await offered(c, giver, "an escort")
    at = len(c.texts)
    await send(c, op="mission", action="accept", id=first["id"])
    await next_event(c, "mission", at, status="accepted")
    target = first["objectives"][0]["npc_id"]
    await c.until(lambda _c: following(srv, target) == c.nid)
    at = len(c.texts)
    await send(c, op="mission", action="abandon", id=first["id"])
    await next_event(c, "mission", at, status="failed")
    await c.until(lambda _c: following(srv, target) == -1)

    second = await offered(c, giver, "a ride")
    at = len(c.texts)
    await send(c, op="mission", action="accept", id=second["id"])
    await next_event(c, "mission", at, status="accepted")
    other = second["objectives"][0]["npc_id"]
    await c.until(lambda _c: following(srv, other) == c.nid)
    nid = c.nid
    await send(c, op="leave")
    loop = asyncio.get_running_loop()
    end = loop.time() + 10
    while following(srv, other) == nid:
        assert loop.time() < end, "the NPC kept following a player who left"
        await asyncio.sleep(0.02)
    # Back with the mission still accepted: the NPC follows the player again.
    again = await open_client(srv.url, "Quitter")
    assert again.mirror.player_id == c.mirror.player_id
    await again.until(lambda _c: following(srv, other) == again.nid)
