"""NPC actions through real sockets: the model's tool calls (the real `openai` client against
the scripted loopback server), checked by the server against the world, applied or rejected.
"""

from __future__ import annotations

import asyncio
import math
from typing import Any

from protocol.mirror import Npc
from server.app import Server
from server.persistence.memory import MemoryPersistence
from tests.ai.fake_openai import FakeOpenAI, Reply
from tests.server.conftest import Client, ServerFactory, open_client
from tests.server.test_npc_dialogue import TOWN, metric, model, reply, talk, until

FAST_WALK: dict[str, Any] = {"player_max_speed": 1000.0}


async def player_near_npc(srv: Server, name: str) -> tuple[Client, int]:
    """A player and the NPC nearest to it (within reach of actions: 30 m)."""
    c = await open_client(srv.url, name)
    w = srv.state.world

    def close(nid: int) -> float:
        me, it = w.entity_xy(c.nid), w.entity_xy(nid)
        return math.dist(me, it) if me is not None and it is not None else math.inf

    def found(c: Client) -> bool:
        return any(n <= 50 and close(n) < 20 for n in c.mirror.entities)

    await c.until(found)
    return c, min((n for n in c.mirror.entities if n <= 50), key=close)


def following(srv: Server, npc: int) -> int:
    """The net id the NPC follows in the world (-1: nobody)."""
    w = srv.state.world
    slot = w.npc_slot(npc)
    assert slot is not None
    return int(w.follow.target[slot])


def waypoint(c: Client, npc: int) -> tuple[float, float]:
    """Where the NPC's current path (as the client's snapshots tell it) ends."""
    e = c.mirror.entities[npc]
    assert isinstance(e, Npc)
    x, y, _ = c.mirror.npc_position(e, 1e12)
    return x, y


def actions(srv: Server, result: str, action: str, reason: str = "none") -> float:
    return metric(srv, "ganggpt_npc_actions_total", action=action, result=result, reason=reason)


async def test_a_follow_the_server_accepts_is_applied_and_seen_in_snapshots(
    start: ServerFactory, clients: list[Client], fake: FakeOpenAI
) -> None:
    srv = await start(**model(fake, **FAST_WALK))
    a, npc = await player_near_npc(srv, "leader")
    clients.append(a)
    fake.push(Reply(text="Alright, lead the way.", tool_calls=[("follow_player", {})]))
    await talk(a, npc, "Follow me.")
    _, say = await reply(a)
    assert say["actions"] == ["follow_player"]
    # The model was offered the tools, and the NPC follows this player in the world.
    offered = {t["function"]["name"] for t in fake.chat_requests()[0].body["tools"]}
    assert {"follow_player", "give_money", "offer_mission"} <= offered
    await until(lambda: following(srv, npc) == a.nid)  # the command applies at the next tick
    assert actions(srv, "applied", "follow_player") == 1

    # Walk away: the NPC's path, as the snapshots carry it, now leads to the player.
    assert a.mirror.local is not None
    x0, y0 = a.mirror.local[0], a.mirror.local[1]
    tx, ty = x0 + 8.0, y0
    await a.walk(tx, ty, speed=100)

    def near_player(c: Client) -> bool:
        wx, wy = waypoint(c, npc)
        return math.hypot(wx - tx, wy - ty) < 5.0

    await a.until(near_player, timeout=10.0)

    def within_reach() -> bool:
        me, it = srv.state.world.entity_xy(a.nid), srv.state.world.entity_xy(npc)
        return me is not None and it is not None and math.dist(me, it) < 20.0

    await until(within_reach, timeout=30.0)

    # Asked to stop, it stops following.
    fake.push(Reply(text="Fine, I'll wait here.", tool_calls=[("stop_following", {})]))
    await talk(a, npc, "Wait here.")
    _, say = await reply(a)
    assert say["actions"] == ["stop_following"]
    await until(lambda: following(srv, npc) == -1)


async def test_tool_calls_the_server_rejects_are_counted_and_not_applied(
    start: ServerFactory, clients: list[Client], fake: FakeOpenAI
) -> None:
    persistence = MemoryPersistence()
    srv = await start(persistence, **model(fake, **FAST_WALK))
    a, npc = await player_near_npc(srv, "greedy")
    clients.append(a)
    player = srv.state.players[a.mirror.player_id or ""]
    money = player.money
    fake.push(
        Reply(
            text="Here, take it. And more.",
            tool_calls=[
                # A stranger: the NPC does not trust the player enough to give money.
                ("give_money", {"amount": 500, "reason": "tip"}),
                # Beyond the bound of one action: rejected by the schema.
                ("give_money", {"amount": 1_000_000}),
                # Malformed arguments, and a tool nobody offered.
                ("follow_player", "{not json"),
                ("teleport_player", {}),
                # The player cannot pay this.
                ("take_money", {"amount": 1000}),
            ],
        )
    )
    player.money = min(money, 999)
    await talk(a, npc, "Got some cash for me?")
    _, say = await reply(a)
    assert say["text"] == "Here, take it. And more."
    assert "actions" not in say
    assert player.money == min(money, 999)
    assert not any(t.get("op") == "event" and t.get("type") == "money" for t in a.texts)
    assert following(srv, npc) == -1
    assert actions(srv, "rejected", "give_money", "distrust") == 1
    assert actions(srv, "rejected", "give_money", "bad_arguments") == 1
    assert actions(srv, "rejected", "follow_player", "bad_arguments") == 1
    assert actions(srv, "rejected", "unknown", "unknown_tool") == 1
    assert actions(srv, "rejected", "take_money", "balance") == 1
    assert actions(srv, "proposed", "give_money") == 2
    assert sum(actions(srv, "applied", n) for n in ("give_money", "take_money")) == 0

    # Too far: the NPC is still in view, but not within reach of a follow.
    assert a.mirror.local is not None
    await a.walk(a.mirror.local[0] + 120.0, a.mirror.local[1], speed=100)
    assert npc in a.mirror.entities
    fake.push(Reply(text="Coming.", tool_calls=[("follow_player", {})]))
    await talk(a, npc, "Follow me!")
    _, say = await reply(a)
    assert "actions" not in say
    assert following(srv, npc) == -1
    assert actions(srv, "rejected", "follow_player", "too_far") == 1


async def test_a_trusted_npc_gives_money_once_within_the_cap(
    start: ServerFactory, clients: list[Client], fake: FakeOpenAI
) -> None:
    persistence = MemoryPersistence()
    srv = await start(persistence, **model(fake))
    a, npc = await player_near_npc(srv, "friend")
    clients.append(a)
    pid = a.mirror.player_id
    assert pid is not None
    key = srv.state.world.identity(npc).key  # type: ignore[union-attr]
    await srv.state.game.talks.relationships.change(key, pid, "helped", scale=5)
    player = srv.state.players[pid]
    before = player.money
    fake.push(Reply(text="You earned it.", tool_calls=[("give_money", {"amount": 300})]))
    await talk(a, npc, "Thanks for the help earlier.")
    _, say = await reply(a)
    assert say["actions"] == ["give_money"]
    # The money event comes with the reply (before its npc_say: the change is made first).
    (ev,) = [t for t in a.texts if t.get("op") == "event" and t["type"] == "money"]
    assert ev["data"]["delta"] == 300 and ev["data"]["money"] == before + 300
    assert player.money == before + 300
    # One gift per reply, and the hourly cap of money from NPCs (2000) holds whatever the
    # model asks for.
    fake.push(
        Reply(text="More.", tool_calls=[("give_money", {"amount": 1000})] * 2),
    )
    await talk(a, npc, "More?")
    _, say = await reply(a)
    assert say["actions"] == ["give_money"]
    fake.push(Reply(text="Even more.", tool_calls=[("give_money", {"amount": 1000})]))
    await talk(a, npc, "Even more?")
    _, say = await reply(a)
    assert "actions" not in say
    await until(lambda: player.money == before + 1300)
    assert actions(srv, "rejected", "give_money", "duplicate") == 1
    assert actions(srv, "rejected", "give_money", "money_cap") == 1


async def test_offline_npcs_follow_and_offer_work_without_a_key(
    start: ServerFactory, clients: list[Client]
) -> None:
    persistence = MemoryPersistence()
    srv = await start(persistence, **TOWN)
    a, npc = await player_near_npc(srv, "nokey")
    clients.append(a)
    await talk(a, npc, "Follow me, friend.")
    _, say = await reply(a)
    assert say["actions"] == ["follow_player"]
    await until(lambda: following(srv, npc) == a.nid)

    await talk(a, npc, "Got any work for me?")
    _, say = await reply(a)
    assert say["actions"] == ["offer_mission"]
    # The offer follows the reply once the mission is generated.
    await a.until(lambda c: any(t.get("op") == "event" for t in c.texts))
    (ev,) = [t for t in a.texts if t.get("op") == "event"]
    assert ev["type"] == "mission" and ev["data"]["status"] == "offered"
    pid = a.mirror.player_id
    assert pid is not None
    (offer,) = await persistence.repos.missions.offers(pid, limit=5)
    # The event names the mission by `id` (a mission desk's card) or `mission` (SPEC §4.3).
    assert offer.mission_id == ev["data"].get("id", ev["data"].get("mission"))
    assert offer.state == "offered"
    assert actions(srv, "applied", "offer_mission") == 1


async def test_a_mission_offered_by_the_model_survives_malformed_mission_json(
    start: ServerFactory, clients: list[Client], fake: FakeOpenAI
) -> None:
    persistence = MemoryPersistence()
    srv = await start(persistence, **model(fake))
    a, npc = await player_near_npc(srv, "worker")
    clients.append(a)
    fake.push(
        Reply(
            text="I might have a job for you.", tool_calls=[("offer_mission", {"theme": "docks"})]
        ),
        # The mission generation that follows: malformed twice, then the offline template.
        Reply(text='{"title": "x", "difficulty": 99'),
        Reply(text='{"title": 5}'),
    )
    await talk(a, npc, "Any work?")
    _, say = await reply(a)
    assert say["actions"] == ["offer_mission"]
    await a.until(lambda c: any(t.get("op") == "event" for t in c.texts))
    (ev,) = [t for t in a.texts if t.get("op") == "event"]
    assert ev["type"] == "mission" and ev["data"]["status"] == "offered"
    pid = a.mirror.player_id
    assert pid is not None
    (offer,) = await persistence.repos.missions.offers(pid, limit=5)
    assert offer.spec["source"] == "offline"
    # The mission prompt named the places around the NPC the server offered, and the theme.
    mission_prompt = fake.chat_requests()[1].body["messages"][-1]["content"]
    assert offer.spec["places"] and all(p in mission_prompt for p in offer.spec["places"])
    assert "docks" in mission_prompt
    assert actions(srv, "applied", "offer_mission") == 1


async def test_one_npc_acts_at_a_bounded_rate(start: ServerFactory, clients: list[Client]) -> None:
    srv = await start(**TOWN)
    a, npc = await player_near_npc(srv, "bossy")
    clients.append(a)
    said: list[list[str]] = []
    for text in ("Follow me.", "Wait here.", "Follow me.", "Wait here.", "Follow me."):
        await talk(a, npc, text)
        _, say = await reply(a)
        said.append(say.get("actions", []))
        if text == "Follow me." and say.get("actions"):
            await until(lambda: following(srv, npc) == a.nid)
        elif say.get("actions"):
            await until(lambda: following(srv, npc) == -1)
    # Four actions per NPC a minute: the fifth is refused, and the NPC stays where it is.
    assert said == [["follow_player"], ["stop_following"]] * 2 + [[]]
    assert actions(srv, "rejected", "follow_player", "rate_npc") == 1
    assert following(srv, npc) == -1


async def test_open_offers_are_bounded_and_expired_ones_make_room(
    start: ServerFactory, clients: list[Client]
) -> None:
    persistence = MemoryPersistence()
    srv = await start(persistence, **TOWN)
    a, npc = await player_near_npc(srv, "jobhunter")
    clients.append(a)
    got: list[list[str]] = []
    for i in range(4):
        await talk(a, npc, f"Got any work for me? ({i})")
        _, say = await reply(a)
        got.append(say.get("actions", []))
    assert got == [["offer_mission"]] * 3 + [[]]
    assert actions(srv, "rejected", "offer_mission", "too_many_offers") == 1
    pid = a.mirror.player_id
    assert pid is not None
    await until(lambda: actions(srv, "applied", "offer_mission") == 3)

    # An hour later the three offers are past their time: asking again expires them first.
    missions = srv.state.game.missions.service
    assert missions is not None
    real = missions.clock
    missions.clock = lambda: real() + 3600
    await talk(a, npc, "Any work now?")
    _, say = await reply(a)
    assert say["actions"] == ["offer_mission"]
    await until(lambda: actions(srv, "applied", "offer_mission") == 4)
    loop = asyncio.get_running_loop()
    end = loop.time() + 10
    while True:
        offers = await persistence.repos.missions.offers(pid, limit=10)
        states = sorted(o.state for o in offers)
        if states == ["expired"] * 3 + ["offered"]:
            break
        assert loop.time() < end, states
        await asyncio.sleep(0.05)


async def test_judgement_rumour_backup_and_flee(
    start: ServerFactory, clients: list[Client], fake: FakeOpenAI
) -> None:
    srv = await start(**model(fake, **FAST_WALK))
    w = srv.state.world
    a = await open_client(srv.url, "snitch")
    clients.append(a)
    pid = a.mirror.player_id
    assert pid is not None

    def mates_of(nid: int) -> list[int]:
        me = w.identity(nid)
        xy = w.entity_xy(nid)
        assert me is not None and xy is not None
        return [
            m
            for m in range(1, 51)
            if m != nid
            and (o := w.identity(m)) is not None
            and o.faction == me.faction
            and (mxy := w.entity_xy(m)) is not None
            and math.dist(xy, mxy) < 100
        ]

    def candidate(c: Client) -> int | None:
        """An NPC in view, within reach, with a faction and a faction-mate near it."""
        me = w.entity_xy(c.nid)
        for n in c.mirror.entities:
            ident = w.identity(n) if n <= 50 else None
            xy = w.entity_xy(n)
            if ident is None or ident.faction == "none" or me is None or xy is None:
                continue
            if math.dist(me, xy) < 20 and mates_of(n):
                return n
        return None

    await a.until(lambda c: candidate(c) is not None)
    npc = candidate(a)
    assert npc is not None
    key = w.identity(npc).key  # type: ignore[union-attr]
    mates = mates_of(npc)
    fake.push(
        Reply(
            text="Wrong thing to say. Boys!",
            tool_calls=[
                ("change_relationship", {"delta": -7, "reason": "snitch talk"}),
                ("share_rumour", {"text": "snitch is talking to the cops"}),
                ("call_faction", {"reason": "snitch"}),
            ],
        )
    )
    await talk(a, npc, "What do you know?")
    _, say = await reply(a)
    assert say["actions"] == ["change_relationship", "share_rumour", "call_faction"]
    talks = srv.state.game.talks
    # Its own judgement moved the relationship by the step it chose (the talk was neutral).
    await until(lambda: actions(srv, "applied", "change_relationship") == 1)
    rel = await talks.relationships.get(key, pid)
    assert (rel.trust, rel.affinity) == (-7, -7)
    # Faction-mates nearby come for the player, and heard what it said about them.
    await until(lambda: any(following(srv, m) == a.nid for m in mates))
    heard = [
        m
        for m in mates
        if any(
            "snitch is talking to the cops" in x.text
            for x in await talks.memory.prompt_memories(w.identity(m).key, pid)  # type: ignore[union-attr]
        )
    ]
    assert heard
    assert metric(srv, "ganggpt_rumours_total", outcome="spread") == 1

    # It runs: its path, as the snapshots tell it, now leads away from the player.
    fake.push(Reply(text="I'm out of here.", tool_calls=[("flee", {"reason": "scared"})]))
    await talk(a, npc, "Scared?")
    _, say = await reply(a)
    assert say["actions"] == ["flee"]
    assert a.mirror.local is not None
    me = a.mirror.local[0], a.mirror.local[1]
    await a.until(lambda c: math.dist(waypoint(c, npc), me) > 50.0, timeout=10.0)
