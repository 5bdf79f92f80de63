"""The SDK's faction and companion calls against the real server: typed answers, typed events
and refusals with their reason."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from client_sdk import (
    CompanionUpdate,
    FactionMember,
    FactionNews,
    FactionRelation,
    RequestRefusedError,
    connect,
)
from config import load_config
from server.app import Server, start_server
from server.persistence.memory import MemoryPersistence
from tests.server.test_accounts_http import AUTH, login, register

pytestmark = pytest.mark.timeout(60)

TOWN = {
    "server_host": "127.0.0.1",
    "server_port": 0,
    "npc_count": 5,
    "spawn_area_size": 50.0,
    "log_level": "warning",
    "sqlite_path": "",
    **AUTH,
}


@pytest.fixture
async def server() -> AsyncIterator[Server]:
    srv = await start_server(load_config(**TOWN), MemoryPersistence())
    try:
        yield srv
    finally:
        await srv.close(drain=False)


async def test_the_faction_calls_answer_typed_and_refusals_raise(server: Server) -> None:
    await register(server, "Sweet")
    token = (await login(server, "Sweet"))["access_token"]
    async with (
        connect(server.url, name="Sweet", token=token) as boss,
        connect(server.url, name="Ryder") as guest,
    ):
        with pytest.raises(RequestRefusedError) as refused:
            await guest.create_faction("ryders")
        assert (refused.value.code_name, refused.value.reason) == ("FACTION_REFUSED", "forbidden")

        made = await boss.create_faction("grove", "Grove Street")
        assert (made.faction, made.rank_name) == ("grove", "leader")
        joined = await guest.join_faction("grove")
        assert (joined.faction, joined.rank) == ("grove", 0)
        assert guest.player_id is not None
        up = await boss.promote(guest.player_id)
        assert isinstance(up, FactionMember) and up.rank_name == "member"
        info = await guest.faction_info()
        assert info.member_count == 2 and {m.rank_name for m in info.members} == {
            "leader",
            "member",
        }
        with pytest.raises(RequestRefusedError) as rank:
            await guest.kick_member(boss.player_id or "")
        assert rank.value.reason == "rank"

        # Relationship changes arrive typed to members; so do the news lines.
        relations: list[FactionRelation] = []
        heard: list[FactionNews] = []
        boss.on(FactionRelation, relations.append)
        guest.on(FactionNews, heard.append)
        await server.state.persistence.repos.factions.create("ballas")
        await server.state.game.factions.service.shift("grove", "ballas", -70, reason="mission")
        await boss.wait_until(lambda: bool(relations))
        rel = relations[0]
        assert rel.stance_changed and (rel.stance, rel.strength) == ("war", -70)
        await guest.wait_until(lambda: any("at war" in n.text for n in heard))
        assert {n.faction for n in heard} == {"grove"}
        assert relations == [rel]

        kicked = await boss.kick_member(guest.player_id)
        assert kicked.change == "kicked"
        left = await boss.leave_faction()
        assert left.faction is None


async def test_the_companion_calls(server: Server) -> None:
    async with connect(server.url, name="Franklin") as c:
        got = await c.summon_companion(name="Chop", kind="dog")
        assert isinstance(got, CompanionUpdate) and got.net_id is not None
        await c.wait_until(lambda: got.net_id in c.entities)
        info = await c.companion_info()
        assert [(x.name, x.kind, x.net_id) for x in info.companions] == [
            ("Chop", "dog", got.net_id)
        ]
        with pytest.raises(RequestRefusedError) as limit:
            await c.summon_companion(name="Rex")
        assert limit.value.reason == "limit"
        gone = await c.dismiss_companion()
        assert gone.change == "dismissed" and gone.net_id is None
        back = await c.recall_companion()
        assert back.net_id is not None
        with pytest.raises(ValueError):
            await c.summon_companion(kind="cat")
