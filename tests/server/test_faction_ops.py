"""The `faction` client message through real sockets: create (and its permission), join,
promote, kick, leave, info; membership, relationship and news events streamed to members;
the kill hook; faction news in an NPC's prompt."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import orjson
import redis

from config import load_config
from protocol.catalogue import ErrorCode
from server.app import Server, default_persistence
from server.game.api import GameApi
from server.gameplay.events import MissionCompleted
from server.world.commands import SpawnNpc
from tests.ai.fake_openai import FakeOpenAI, Reply
from tests.server.conftest import BASE, Client, ServerFactory
from tests.server.test_accounts_http import AUTH, login, register
from tests.server.test_auth_join import join

TOWN: dict[str, Any] = {**AUTH, "npc_count": 5, "spawn_area_size": 50.0}


async def account(srv: Server, name: str) -> Client:
    """A registered player (role `player`: its token carries create:faction), joined."""
    await register(srv, name)
    token = (await login(srv, name))["access_token"]
    return await join(srv, name, token)


async def send(c: Client, **msg: Any) -> None:
    await c.ws.send(orjson.dumps(msg).decode())


def events(c: Client, type_: str, since: int = 0) -> list[dict[str, Any]]:
    return [t["data"] for t in c.texts[since:] if t.get("op") == "event" and t.get("type") == type_]


async def event(
    c: Client,
    type_: str,
    pred: Callable[[dict[str, Any]], bool] = lambda d: True,
    timeout: float = 10.0,
) -> dict[str, Any]:
    """The first `event` of this type (received so far or next) that `pred` accepts."""
    await c.until(lambda c: any(pred(d) for d in events(c, type_)), timeout)
    return next(d for d in events(c, type_) if pred(d))


async def refused(c: Client, code: ErrorCode, timeout: float = 10.0) -> str:
    """The message of the next error with this code."""
    start = len(c.texts)
    await c.until(
        lambda c: any(t.get("op") == "error" and t["code"] == code for t in c.texts[start:]),
        timeout,
    )
    return next(t for t in c.texts[start:] if t.get("op") == "error" and t["code"] == code)[
        "message"
    ]


def pid(c: Client) -> str:
    assert c.mirror.player_id is not None
    return c.mirror.player_id


async def test_create_needs_the_permission_then_members_join_rank_and_leave(
    start: ServerFactory, clients: list[Client]
) -> None:
    srv = await start(**TOWN)
    boss = await account(srv, "Sweet")
    guest = await join(srv, "Ryder")  # a guest: play:game only
    clients += [boss, guest]

    # A token without create:faction cannot create; nothing is created.
    await send(guest, op="faction", action="create", name="grove")
    assert (await refused(guest, ErrorCode.FACTION_REFUSED)).startswith("forbidden:")
    assert await srv.state.game.factions.service.state("grove") is None

    await send(boss, op="faction", action="create", name="grove", display_name="Grove Street")
    mine = await event(boss, "faction", lambda d: d["change"] == "created")
    assert (mine["faction"], mine["rank"], mine["rank_name"]) == ("grove", 3, "leader")

    await send(guest, op="faction", action="join", name="grove")
    joined = await event(guest, "faction", lambda d: d["change"] == "joined")
    assert (joined["faction"], joined["rank_name"]) == ("grove", "recruit")
    seen = await event(boss, "faction.member", lambda d: d["change"] == "joined")
    assert seen["player_id"] == pid(guest) and seen["name"] == "Ryder"
    assert seen["net_id"] == guest.nid and seen["rank_name"] == "recruit"

    # A recruit cannot kick the leader; the leader promotes the recruit.
    await send(guest, op="faction", action="kick", player=pid(boss))
    assert (await refused(guest, ErrorCode.FACTION_REFUSED)).startswith("rank:")
    await send(boss, op="faction", action="promote", player=pid(guest))
    up = await event(guest, "faction", lambda d: d["change"] == "promoted")
    assert up["rank_name"] == "member" and up["actor_id"] == pid(boss)
    assert srv.state.players[pid(guest)].rank == 1

    # info: the faction as cached under faction:{name}:state, with its members.
    await send(guest, op="faction", action="info")
    info = await event(guest, "faction.info")
    assert (info["name"], info["display_name"], info["member_count"]) == (
        "grove",
        "Grove Street",
        2,
    )
    assert {(m["player_id"], m["rank_name"], m["online"]) for m in info["members"]} == {
        (pid(boss), "leader", True),
        (pid(guest), "member", True),
    }
    # The news NPCs hear about the faction includes the new member.
    assert "A new member joined the grove" in info["news"]

    # The leader cannot leave while others remain; kicks the member instead.
    await send(boss, op="faction", action="leave")
    assert (await refused(boss, ErrorCode.FACTION_REFUSED)).startswith("leader_must_hand_over:")
    await send(boss, op="faction", action="kick", player=pid(guest))
    out = await event(guest, "faction", lambda d: d["change"] == "kicked")
    assert out["faction"] is None and out["faction_name"] == "grove"
    assert srv.state.players[pid(guest)].faction is None
    await send(boss, op="faction", action="leave")
    gone = await event(boss, "faction", lambda d: d["change"] == "left")
    assert gone["faction"] is None
    assert await srv.state.game.factions.service.membership(pid(boss)) is None


async def test_rank_rules_and_unknown_factions_are_refused_with_their_reason(
    start: ServerFactory, clients: list[Client]
) -> None:
    srv = await start(**TOWN)
    boss = await account(srv, "Sweet")
    a = await join(srv, "Ryder")
    b = await join(srv, "Smoke")
    clients += [boss, a, b]
    await send(a, op="faction", action="join", name="nobody_here")
    assert (await refused(a, ErrorCode.FACTION_REFUSED)).startswith("unknown_faction:")
    await send(a, op="faction", action="leave")
    assert (await refused(a, ErrorCode.FACTION_REFUSED)).startswith("not_member:")
    await send(boss, op="faction", action="create", name="grove")
    await event(boss, "faction", lambda d: d["change"] == "created")
    for c in (a, b):
        await send(c, op="faction", action="join", name="grove")
        await event(c, "faction", lambda d: d["change"] == "joined")
    await send(a, op="faction", action="kick", player=pid(b))
    assert (await refused(a, ErrorCode.FACTION_REFUSED)).startswith("rank:")
    await send(a, op="faction", action="join", name="grove")
    assert (await refused(a, ErrorCode.FACTION_REFUSED)).startswith("already_member:")
    await send(boss, op="faction", action="promote", player=pid(boss))
    assert (await refused(boss, ErrorCode.FACTION_REFUSED)).startswith("self:")
    # A malformed request is the protocol's BAD_FIELD, not a refusal.
    await send(a, op="faction", action="create", name="Not A Slug")
    assert "'name'" in await refused(a, ErrorCode.BAD_FIELD)
    await send(a, op="faction", action="promote")
    assert "'player'" in await refused(a, ErrorCode.BAD_FIELD)
    rejected = srv.state.metrics.registry.get_sample_value(
        "ganggpt_faction_requests_rejected_total", {"code": "rank"}
    )
    assert rejected == 1.0


async def test_guests_may_create_when_the_config_says_so(
    start: ServerFactory, clients: list[Client]
) -> None:
    srv = await start(**TOWN, guests_create_factions=True)
    guest = await join(srv, "Ryder")
    clients.append(guest)
    await send(guest, op="faction", action="create", name="ryders")
    mine = await event(guest, "faction", lambda d: d["change"] == "created")
    assert mine["faction"] == "ryders"


async def test_membership_is_loaded_when_a_member_comes_back(
    start: ServerFactory, clients: list[Client]
) -> None:
    srv = await start(**TOWN)
    boss = await account(srv, "Sweet")
    clients.append(boss)
    await send(boss, op="faction", action="create", name="grove")
    await event(boss, "faction", lambda d: d["change"] == "created")
    await boss.ws.close()
    token = (await login(srv, "Sweet"))["access_token"]
    again = await join(srv, "Sweet", token)
    clients.append(again)
    loaded = await event(again, "faction", lambda d: d["change"] == "loaded")
    assert (loaded["faction"], loaded["rank_name"]) == ("grove", "leader")


async def test_info_names_offline_members_from_storage(
    start: ServerFactory, clients: list[Client]
) -> None:
    srv = await start(**TOWN)
    boss = await account(srv, "Sweet")
    big = await account(srv, "BigSmoke")
    drifter = await join(srv, "Drifter")  # a guest: storage holds no name it is shown by
    clients += [boss, big, drifter]
    await send(boss, op="faction", action="create", name="grove")
    await event(boss, "faction", lambda d: d["change"] == "created")
    for c in (big, drifter):
        await send(c, op="faction", action="join", name="grove")
        await event(c, "faction", lambda d: d["change"] == "joined")
    gone = {pid(big), pid(drifter)}
    await big.ws.close()
    await drifter.ws.close()
    await until(lambda: not gone & set(srv.state.players))

    await send(boss, op="faction", action="info")
    info = await event(boss, "faction.info")
    names = {m["player_id"]: (m["name"], m["online"]) for m in info["members"]}
    assert names == {
        pid(boss): ("Sweet", True),
        pid(big): ("BigSmoke", False),
        pid(drifter): (None, False),
    }


async def until(cond: Callable[[], bool], timeout: float = 10.0) -> None:
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while not cond():
        assert loop.time() < end, "condition not met in time"
        await asyncio.sleep(0.02)


async def test_relationships_stream_to_members_with_hysteresis_and_reach_npc_prompts(
    start: ServerFactory, clients: list[Client], fake: FakeOpenAI
) -> None:
    # Not "ballas": the world's own factions exist from the start (missions name them).
    srv = await start(**TOWN, ai_provider="openai", openai_base_url=fake.base_url, ai_max_retries=0)
    game = srv.state.game
    grove = await account(srv, "Sweet")
    ballas = await account(srv, "Kane")
    clients += [grove, ballas]
    for c, name in ((grove, "grove"), (ballas, "rollers")):
        await send(c, op="faction", action="create", name=name)
        await event(c, "faction", lambda d: d["change"] == "created")

    # A member killed by the other faction (a game mode's kill rule calls the hook): the
    # relationship shifts once per kill.
    victim, killer = srv.state.players[pid(grove)], srv.state.players[pid(ballas)]
    api = GameApi(game, "tests")
    assert api.member_killed(victim, killer, "kill:1")
    assert api.member_killed(victim, killer, "kill:1")  # the same kill reported again
    assert not api.member_killed(victim, victim, "kill:0")  # same faction: nothing to shift
    first = await event(grove, "faction.relation")
    await until(lambda: len(events(grove, "faction.relation")) >= 1)
    assert (first["faction_a"], first["faction_b"], first["strength"]) == ("grove", "rollers", -8)
    assert first["reason"] == "member_killed" and first["stance"] == "neutral"
    assert game.factions.member_killed(victim, killer, "kill:2")
    await event(ballas, "faction.relation", lambda d: d["strength"] == -16)
    rel = await game.factions.service.relationship("grove", "rollers")
    assert rel.strength == -16  # kill:1 counted once

    # Down to war (<= -60): the stance changes and members of both sides hear it.
    await game.factions.service.shift("grove", "rollers", -50, reason="mission")
    war = await event(ballas, "faction.relation", lambda d: d["stance"] == "war")
    assert (war["previous_stance"], war["strength"]) == ("neutral", -66)
    # Hysteresis: back above -60 is still war; only above -40 is it over.
    await game.factions.service.shift("grove", "rollers", 10, reason="mission")
    still = await event(grove, "faction.relation", lambda d: d["strength"] == -56)
    assert still["stance"] == "war" and still["previous_stance"] == "war"
    news = await event(grove, "faction.news", lambda d: "at war" in d["text"])
    assert news["faction"] == "grove"

    # An NPC of the faction knows: the news is in the prompt the model receives.
    x, y = srv.state.world.entity_xy(grove.nid) or (0.0, 0.0)
    npc = srv.state.world.spawn(SpawnNpc(x=x + 2, y=y, name="Big Bear", faction="grove"))
    assert npc is not None
    await grove.until(lambda c: npc in c.mirror.entities)
    fake.default = Reply(text="Stay sharp out there.")
    await send(grove, op="talk", npc=npc, text="What's new?")
    await grove.text("npc_say")
    (req,) = fake.chat_requests()
    prompt = orjson.dumps(req.body["messages"]).decode()
    assert "The grove and the rollers are now at war" in prompt


async def test_a_mission_against_a_faction_is_news_to_its_members(
    start: ServerFactory, clients: list[Client]
) -> None:
    srv = await start(**TOWN)
    boss = await account(srv, "Sweet")
    clients.append(boss)
    await send(boss, op="faction", action="create", name="grove")
    await event(boss, "faction", lambda d: d["change"] == "created")
    # What the mission service emits on the bus once a completion is committed.
    srv.state.game.bus.publish(
        MissionCompleted(
            at=1.0,
            mission_id="m1",
            player_id="someone",
            reward=100,
            balance=100,
            faction_impact={"grove": -10, "ballas": 5},
        )
    )
    news = await event(boss, "faction.news")
    assert news == {
        "faction": "grove",
        "text": "Word is someone pulled a job against us",
        "at": 1.0,
    }
    assert events(boss, "faction.news") == [news]  # ballas' news is not grove's


async def test_over_postgres_and_redis_state_is_cached_and_survives_a_restart(
    start: ServerFactory, clients: list[Client], pg_url: str, redis_url: str, redis_prefix: str
) -> None:
    stores = {"database_url": pg_url, "redis_url": redis_url, "redis_prefix": redis_prefix}
    cfg = load_config(**{**BASE, **TOWN, **stores})
    srv = await start(persistence=default_persistence(cfg), **TOWN, **stores)
    boss = await account(srv, "Sweet")
    guest = await join(srv, "Ryder")
    clients += [boss, guest]
    await send(boss, op="faction", action="create", name="grove")
    await event(boss, "faction", lambda d: d["change"] == "created")
    await send(guest, op="faction", action="join", name="grove")
    await event(guest, "faction", lambda d: d["change"] == "joined")
    await send(guest, op="faction", action="info")
    assert (await event(guest, "faction.info"))["member_count"] == 2
    # The state the info read is cached under the seed's key.
    client = redis.Redis.from_url(redis_url)
    try:
        assert client.exists(f"{redis_prefix}faction:grove:state") == 1
    finally:
        client.close()
    await boss.ws.close()
    await guest.ws.close()
    await srv.close(drain=False)

    again = await start(persistence=default_persistence(cfg), **TOWN, **stores)
    back = await join(again, "Ryder")
    clients.append(back)
    loaded = await event(back, "faction", lambda d: d["change"] == "loaded")
    assert (loaded["faction"], loaded["rank_name"]) == ("grove", "recruit")
    # The leader is offline: its name comes from the database (one read for every member).
    await send(back, op="faction", action="info")
    members = (await event(back, "faction.info"))["members"]
    assert {(m["name"], m["online"]) for m in members} == {("Sweet", False), ("Ryder", True)}
    # Closed here, while its database (a fixture set up after `start`) still exists.
    await back.ws.close()
    await again.close(drain=False)
