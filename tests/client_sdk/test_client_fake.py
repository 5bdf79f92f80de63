"""client_sdk.Client against the scripted fake server: real sockets on 127.0.0.1.

These pin the SDK's own behaviour (events, resume, drain, fatal codes, bounded retries)
independently of the game server; tests/client_sdk/test_integration.py covers the real one.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

from client_sdk import (
    ChatReceived,
    Client,
    ClientClosedError,
    ClientEvent,
    Closed,
    Disconnected,
    EntityEntered,
    EntityLeft,
    EntityUpdated,
    FatalCloseError,
    Npc,
    NpcSaid,
    Player,
    Reconnected,
    ReconnectFailedError,
    Snapshot,
    connect,
)
from tests.client_sdk.fake_server import NPC_IDS, FakeServer

pytestmark = pytest.mark.timeout(30)


@pytest.fixture
async def fake() -> AsyncIterator[FakeServer]:
    srv = await FakeServer().start()
    try:
        yield srv
    finally:
        await srv.close()


def fast(**kw: Any) -> dict[str, Any]:
    return {"backoff_base": 0.02, "backoff_max": 0.1, "open_timeout": 2.0, **kw}


async def test_connect_welcome_and_first_snapshot(fake: FakeServer) -> None:
    async with connect(fake.url, name="alice") as c:
        assert c.welcome is not None and c.net_id == c.welcome.net_id
        assert c.player_id and c.connected
        await c.wait_until(lambda: all(i in c.entities for i in NPC_IDS), 5)
        npc = c.entities[NPC_IDS[0]]
        assert isinstance(npc, Npc)
        x, y, _ = c.npc_position(npc)
        assert abs(x) < 100 and abs(y) < 100
        assert c.server_tick() >= c.mirror.last_tick
    assert c.closed and c.error is None
    assert fake.players == {}  # leave on exit: the server forgot the player


async def test_move_is_echoed_and_acks_state(fake: FakeServer) -> None:
    async with connect(fake.url, name="alice") as c:
        await c.wait_until(lambda: c.me is not None or c.stats.frames > 0, 5)
        c.move(12.5, -7.25, 3.0, 90.0)
        ev = await c.wait_for(
            lambda e: isinstance(e, EntityUpdated) and e.entity.net_id == c.net_id, 5
        )
        assert isinstance(ev, EntityUpdated)
        me = c.me
        assert me is not None and me.x == pytest.approx(12.5, abs=0.1)
        assert me.heading == pytest.approx(90.0, abs=1.5)
        net_id, seq, ack = fake.inputs[-1]
        assert (net_id, seq) == (c.net_id, 1) and ack >= 1


async def test_moves_coalesce_under_the_rate_limit(fake: FakeServer) -> None:
    async with connect(fake.url, name="alice") as c:
        for i in range(200):
            c.move(float(i), 0.0, 0.0, 0.0)
        await asyncio.sleep(0.3)
        sent = [s for n, s, _ in fake.inputs if n == c.net_id]
        assert 1 <= len(sent) <= 0.3 * 48 + 3  # 80% of 60/s, first one immediate
        await c.wait_until(lambda: c.me is not None and c.me.x == pytest.approx(199.0, abs=0.2), 5)


async def test_move_refuses_non_finite(fake: FakeServer) -> None:
    async with connect(fake.url, name="alice") as c:
        with pytest.raises(ValueError):
            c.move(float("nan"), 0.0, 0.0, 0.0)


async def test_chat_between_two_clients_and_enter_leave(fake: FakeServer) -> None:
    async with connect(fake.url, name="alice") as a:
        got: list[ChatReceived] = []
        a.on(ChatReceived, got.append)
        async with connect(fake.url, name="bob") as b:
            await a.wait_until(lambda: b.net_id in a.entities, 5)
            peer = a.entities[b.net_id]  # type: ignore[index]
            assert isinstance(peer, Player) and peer.name == "bob"
            await b.chat("hello alice")
            ev = await a.wait_for(lambda e: isinstance(e, ChatReceived), 5)
            assert ev == ChatReceived(b.net_id, "bob", "hello alice")  # type: ignore[arg-type]
            assert got == [ev]
        left = await a.wait_for(lambda e: isinstance(e, EntityLeft), 5)
        assert isinstance(left, EntityLeft) and left.entity.net_id == b.net_id


async def test_talk_and_ping(fake: FakeServer) -> None:
    async with connect(fake.url, name="alice") as c:
        await c.talk(NPC_IDS[0], "hi")
        ev = await c.wait_for(lambda e: isinstance(e, NpcSaid), 5)
        assert isinstance(ev, NpcSaid) and ev.npc == NPC_IDS[0] and ev.text == "you said: hi"
        rtt = await c.ping()
        assert 0 <= rtt < 1.0


async def test_events_iterator_and_async_callbacks(fake: FakeServer) -> None:
    c = await connect(fake.url, name="alice")
    seen: list[ClientEvent] = []
    hits: list[int] = []

    async def on_snapshot(ev: Snapshot) -> None:
        hits.append(ev.count)

    off = c.on(Snapshot, on_snapshot)

    async def consume() -> None:
        async for ev in c.events():
            seen.append(ev)

    task = asyncio.create_task(consume())
    await asyncio.sleep(0.05)
    c.move(1.0, 1.0, 1.0, 1.0)
    await c.wait_for(lambda e: isinstance(e, EntityUpdated), 5)
    off()
    await c.leave()
    await asyncio.wait_for(task, 5)
    assert isinstance(seen[-1], Closed) and seen[-1].error is None
    assert any(isinstance(e, EntityUpdated) for e in seen)
    assert [e async for e in c.events()] == []  # closed: iterator ends at once


async def test_wait_for_timeout(fake: FakeServer) -> None:
    async with connect(fake.url, name="alice") as c:
        with pytest.raises(TimeoutError):
            await c.wait_for(lambda e: isinstance(e, NpcSaid), 0.2)


async def test_resume_after_a_dropped_connection_keeps_the_player(fake: FakeServer) -> None:
    async with connect(fake.url, name="alice", **fast()) as c:
        pid, nid = c.player_id, c.net_id
        fake.drop(fake.by_name("alice"))
        ev = await c.wait_for(lambda e: isinstance(e, Reconnected), 5)
        assert isinstance(ev, Reconnected) and ev.resumed
        assert (c.player_id, c.net_id) == (pid, nid)
        assert fake.hellos[-1].resume == "tok-1"
        c.move(5.0, 5.0, 0.0, 0.0)  # inputs flow again, seq restarted on the new socket
        await c.wait_until(lambda: c.me is not None and c.me.x == pytest.approx(5.0, abs=0.1), 5)
        assert fake.inputs[-1][1] == 1
        assert c.reconnects == 1


async def test_drain_notice_then_1012_reconnects_after_the_given_delay(fake: FakeServer) -> None:
    fake.after_ms = 200
    async with connect(fake.url, name="alice", **fast()) as c:
        events: list[object] = []
        c.on(object, events.append)
        t0 = asyncio.get_running_loop().time()
        await fake.drain()
        await c.wait_for(lambda e: isinstance(e, Reconnected), 5)
        assert asyncio.get_running_loop().time() - t0 >= 0.19
        names = [type(e).__name__ for e in events]
        assert names.index("ReconnectRequested") < names.index("Disconnected")
        disc = next(e for e in events if isinstance(e, Disconnected))
        assert disc.code == 1012 and disc.will_retry and disc.code_name == "SERVICE_RESTART"


@pytest.mark.parametrize("code,name", [(4005, "SERVER_FULL"), (4001, "UNSUPPORTED_VERSION")])
async def test_fatal_code_at_connect_raises_with_its_name(
    fake: FakeServer, code: int, name: str
) -> None:
    fake.refuse = code
    with pytest.raises(FatalCloseError) as ei:
        await connect(fake.url, name="alice")
    assert ei.value.code == code and ei.value.code_name == name
    assert len(fake.hellos) == 1  # no retry


async def test_fatal_code_later_ends_the_client_without_retry(fake: FakeServer) -> None:
    c = await connect(fake.url, name="alice", **fast())
    closed: list[Closed] = []
    c.on(Closed, closed.append)
    await fake.close_player(fake.by_name("alice"), 4011, "kicked by admin")
    err = await c.wait_closed(5)
    assert isinstance(err, FatalCloseError) and err.code == 4011 and err.code_name == "KICKED"
    assert closed[0].code_name == "KICKED" and closed[0].error
    assert len(fake.hellos) == 1
    with pytest.raises(FatalCloseError):
        await c.chat("still there?")
    await c.leave()  # harmless after the end


async def test_reconnect_gives_up_after_bounded_attempts() -> None:
    srv = await FakeServer().start()
    c = await connect(srv.url, name="alice", max_attempts=3, **fast())
    await srv.close()  # closes the socket with 1001 and stops listening
    err = await c.wait_closed(10)
    assert isinstance(err, ReconnectFailedError)
    assert "3 reconnect attempts" in str(c.error)


async def test_reconnect_outlasts_an_outage_longer_than_the_old_attempt_limit() -> None:
    """The server is down for about 25 backoff caps; the client keeps trying for the whole
    resume window the server announced (4 s here) and resumes its player. (It used to give up
    after 10 attempts: 1 s at these backoff settings, 27.9 s at the defaults.)"""
    srv = FakeServer()
    srv.resume_window = 4.0
    await srv.start()
    c = await connect(srv.url, name="alice", **fast())
    try:
        pid = c.player_id
        back: list[Reconnected] = []
        c.on(Reconnected, back.append)
        t0 = asyncio.get_running_loop().time()
        await srv.close()
        await asyncio.sleep(2.5)  # the outage itself: the test is about its length
        assert not c.closed, c.error
        await srv.start()  # same port, same players
        await c.wait_until(lambda: bool(back), 5)
        assert back[0].resumed and c.player_id == pid
        assert back[0].attempt > 10
        assert asyncio.get_running_loop().time() - t0 >= 2.5
    finally:
        await c.close()
        await srv.close()


async def test_reconnect_gives_up_when_the_resume_window_is_over() -> None:
    srv = FakeServer()
    srv.resume_window = 1.5
    await srv.start()
    c = await connect(srv.url, name="alice", **fast())
    t0 = asyncio.get_running_loop().time()
    await srv.close()
    err = await c.wait_closed(10)
    took = asyncio.get_running_loop().time() - t0
    assert isinstance(err, ReconnectFailedError), err
    assert "up to 1.5 s" in str(err)
    assert 1.4 <= took < 8.0


async def test_no_reconnect_option_ends_on_drop(fake: FakeServer) -> None:
    c = await connect(fake.url, name="alice", reconnect=False)
    fake.drop(fake.by_name("alice"))
    err = await c.wait_closed(5)
    assert isinstance(err, ClientClosedError) and err.code == 1006


async def test_server_replacing_us_is_fatal(fake: FakeServer) -> None:
    a = await connect(fake.url, name="alice", **fast())
    b = Client(fake.url, "alice2")
    b.mirror.resume_token = a.mirror.resume_token  # another device resumes the same player
    await b.start()
    err = await a.wait_closed(5)
    assert isinstance(err, FatalCloseError) and err.code_name == "REPLACED"
    assert b.player_id == a.player_id
    await b.leave()


async def test_bad_url_fails_fast() -> None:
    with pytest.raises(OSError):
        await connect("ws://127.0.0.1:1/ws", name="alice", open_timeout=2.0)


async def test_enter_events_on_first_snapshot(fake: FakeServer) -> None:
    c = Client(fake.url, "alice")
    entered: list[int] = []
    c.on(EntityEntered, lambda e: entered.append(e.entity.net_id))
    await c.start()
    await c.wait_until(lambda: len(entered) >= len(NPC_IDS), 5)
    assert set(NPC_IDS) <= set(entered)
    await c.close()
    assert c.closed and fake.by_name("alice")  # close (unlike leave) keeps the player for resume


async def test_close_during_backoff_returns_at_once() -> None:
    srv = await FakeServer().start()
    c = await connect(srv.url, name="alice", max_attempts=50, backoff_base=2.0, backoff_max=5.0)
    gone: list[Disconnected] = []
    c.on(Disconnected, gone.append)
    await srv.close()
    await c.wait_until(lambda: bool(gone), 5)
    await asyncio.sleep(0.1)  # now sleeping in the backoff (2 s at least)
    await asyncio.wait_for(c.close(), 1.0)
    assert c.closed and c.error is None
