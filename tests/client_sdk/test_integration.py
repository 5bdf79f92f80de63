"""The SDK against the real game server, started in-process on 127.0.0.1 (port 0)."""

from __future__ import annotations

import asyncio
import math
from collections.abc import AsyncIterator
from typing import Any

import pytest

from client_sdk import (
    ChatReceived,
    Client,
    ClientError,
    ClientEvent,
    Disconnected,
    EntityUpdated,
    FatalCloseError,
    Npc,
    NpcSaid,
    NpcSaidPart,
    Player,
    PongReceived,
    Reconnected,
    ReconnectFailedError,
    ReconnectRequested,
    connect,
)
from config import load_config
from server.app import Server, start_server
from server.persistence.memory import MemoryPersistence

pytestmark = pytest.mark.timeout(60)

SMALL_TOWN = {
    "server_host": "127.0.0.1",
    "server_port": 0,
    "npc_count": 40,
    "spawn_area_size": 200.0,  # everyone within one AOI
    "log_level": "warning",
    "sqlite_path": "",
}


@pytest.fixture
async def server() -> AsyncIterator[Server]:
    srv = await start_server(load_config(**SMALL_TOWN), MemoryPersistence())
    try:
        yield srv
    finally:
        await srv.close(drain=False)


def fast(**kw: Any) -> dict[str, Any]:
    return {"backoff_base": 0.05, "backoff_max": 0.2, "open_timeout": 5.0, **kw}


async def test_connect_welcome_and_npcs_enter(server: Server) -> None:
    async with connect(server.url, name="alice") as c:
        w = c.welcome
        assert w is not None and not w.resumed
        assert c.net_id == w.net_id and c.player_id == w.player_id
        assert w.tick_rate == 60 and w.send_rate == 30
        await c.wait_until(lambda: sum(isinstance(e, Npc) for e in c.entities.values()) >= 5, 10)
        npc = next(e for e in c.entities.values() if isinstance(e, Npc))
        x, y, _ = c.npc_position(npc)
        assert math.isfinite(x) and math.isfinite(y)
        assert w.bounds.contains(*c.npc_position(npc))
        await c.wait_until(lambda: c.me is not None, 5)
        me = c.me
        assert me is not None and me.name == "alice"
        assert abs(me.x - w.x) < 1.0 and abs(me.y - w.y) < 1.0


async def test_move_is_echoed(server: Server) -> None:
    async with connect(server.url, name="alice") as c:
        w = c.welcome
        assert w is not None
        await asyncio.sleep(0.3)  # the server rejects moves faster than PLAYER_MAX_SPEED
        c.move(w.x + 3.0, w.y - 2.0, w.z, 180.0)
        await c.wait_until(lambda: c.me is not None and abs(c.me.x - (w.x + 3.0)) < 0.5, 5)
        me = c.me
        assert me is not None and abs(me.y - (w.y - 2.0)) < 0.5
        assert abs(me.heading - 180.0) < 2.0


async def test_two_clients_see_each_other_move_and_chat(server: Server) -> None:
    async with connect(server.url, name="alice") as a, connect(server.url, name="bob") as b:
        await b.wait_until(lambda: a.net_id in b.entities, 10)
        wa = a.welcome
        assert wa is not None
        await asyncio.sleep(0.3)
        a.move(wa.x + 5.0, wa.y, wa.z, 90.0)

        def seen() -> bool:
            e = b.entities.get(a.net_id or -1)
            return isinstance(e, Player) and abs(e.x - (wa.x + 5.0)) < 0.5

        await b.wait_until(seen, 5)
        await a.chat("hello bob")
        ev = await b.wait_for(lambda e: isinstance(e, ChatReceived), 5)
        assert isinstance(ev, ChatReceived)
        assert (ev.from_id, ev.name, ev.text) == (a.net_id, "alice", "hello bob")


async def test_ping_rtt_and_talk_to_an_npc(server: Server) -> None:
    async with connect(server.url, name="alice") as c:
        rtt = await c.ping()
        assert 0.0 <= rtt < 1.0
        pongs: list[PongReceived] = []
        c.on(PongReceived, pongs.append)
        await c.ping()
        assert pongs and pongs[0].rtt is not None
        await c.wait_until(lambda: any(isinstance(e, Npc) for e in c.entities.values()), 10)
        npc = next(e for e in c.entities.values() if isinstance(e, Npc))
        await c.talk(npc, "hello there")
        ev = await c.wait_for(lambda e: isinstance(e, NpcSaid), 10)
        assert isinstance(ev, NpcSaid) and ev.npc == npc.net_id and ev.to == c.net_id
        assert ev.text


async def test_ask_streams_the_reply_and_the_npc_knows_you_next_time(server: Server) -> None:
    from server.ai.offline import _GREETING

    async with connect(server.url, name="alice") as c:
        await c.wait_until(lambda: any(isinstance(e, Npc) for e in c.entities.values()), 10)
        npc = next(e for e in c.entities.values() if isinstance(e, Npc))
        parts: list[NpcSaidPart] = []
        first = await c.ask(npc, "Hello there", on_part=parts.append)
        assert isinstance(first, NpcSaid) and first.npc == npc.net_id and first.to == c.net_id
        assert first.reply_id is not None and not first.replaced
        assert parts and {p.reply_id for p in parts} == {first.reply_id}
        assert [p.seq for p in parts] == list(range(1, len(parts) + 1))
        assert "".join(p.text for p in parts) == first.text
        assert first.text.startswith(_GREETING["stranger"])
        # One conversation later the NPC greets a known face (the offline grammar).
        second = await c.ask(npc, "Hello again")
        assert second.reply_id is not None and second.reply_id > first.reply_id
        assert second.text.startswith(_GREETING["known face"]), second.text


async def test_ask_an_npc_out_of_view_raises(server: Server) -> None:
    async with connect(server.url, name="alice") as c:
        with pytest.raises(ClientError, match="cannot talk"):
            await c.ask(60000, "anyone?", timeout=5)


async def test_resume_after_a_dropped_connection(server: Server) -> None:
    async with connect(server.url, name="alice", **fast()) as c:
        pid, nid = c.player_id, c.net_id
        assert c._ws is not None
        c._ws.transport.abort()  # the network goes away; no close frame
        ev = await c.wait_for(lambda e: isinstance(e, Reconnected), 15)
        assert isinstance(ev, Reconnected) and ev.resumed
        assert c.player_id == pid and c.net_id == nid
        w = c.welcome
        assert w is not None
        await asyncio.sleep(0.3)
        c.move(w.x + 1.0, w.y, w.z, 0.0)  # inputs flow on the new socket
        await c.wait_until(lambda: c.me is not None and abs(c.me.x - (w.x + 1.0)) < 0.5, 5)


async def test_drain_notice_reaches_the_sdk(server: Server) -> None:
    c = await connect(server.url, name="alice", max_attempts=2, **fast())
    events: list[ClientEvent] = []
    c.on(object, events.append)  # type: ignore[arg-type]
    await server.drain()  # reconnect notice, close 1012; the server stops listening
    err = await c.wait_closed(30)
    kinds = [type(e).__name__ for e in events]
    assert "ReconnectRequested" in kinds
    rr = next(e for e in events if isinstance(e, ReconnectRequested))
    assert rr.resume_token and rr.after_ms >= 0
    disc = next(e for e in events if isinstance(e, Disconnected))
    assert disc.code == 1012 and disc.will_retry
    assert isinstance(err, ReconnectFailedError)  # nobody listens any more


async def test_full_server_is_refused_with_its_name() -> None:
    srv = await start_server(load_config(**{**SMALL_TOWN, "max_players": 1}), MemoryPersistence())
    try:
        async with connect(srv.url, name="first"):
            with pytest.raises(FatalCloseError) as ei:
                await connect(srv.url, name="second")
            assert ei.value.code_name == "SERVER_FULL"
    finally:
        await srv.close(drain=False)


async def test_manual_client_lifecycle(server: Server) -> None:
    c = Client(server.url, "alice")
    await c.start()
    updates: list[EntityUpdated] = []
    off = c.on(EntityUpdated, updates.append)
    w = c.welcome
    assert w is not None
    await asyncio.sleep(0.3)
    c.move(w.x + 2.0, w.y, w.z, w.heading)
    await c.wait_until(lambda: any(u.entity.net_id == c.net_id for u in updates), 5)
    off()
    await c.leave()
    assert c.closed and c.error is None
    await asyncio.sleep(0.1)
    assert server.state.player_count == 0  # leave: the server did not keep the player
