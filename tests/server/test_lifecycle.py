"""Capacity, slow readers, resume and graceful drain, through real sockets."""

from __future__ import annotations

import asyncio
import socket

import orjson
from websockets.exceptions import ConnectionClosed

from protocol.catalogue import CloseCode
from protocol.state import decode_header
from server.persistence.memory import MemoryPersistence
from tests.server.conftest import Client, ServerFactory, open_client


async def test_one_past_max_players_is_refused(start: ServerFactory, clients: list[Client]) -> None:
    srv = await start(max_players=2)
    clients += [await open_client(srv.url, "player1"), await open_client(srv.url, "player2")]
    third = await open_client(srv.url, "player3", welcome=False)
    clients.append(third)
    await third.ws.send(third.mirror.hello().decode())
    assert await third.closed_code() == CloseCode.SERVER_FULL
    assert third.ws.close_reason and "full" in third.ws.close_reason
    # The two players are unaffected.
    before = clients[0].mirror.last_seq
    await clients[0].drain(0.2)
    assert clients[0].mirror.last_seq > before


async def test_a_client_that_stops_reading_is_closed_and_others_keep_their_rate(
    start: ServerFactory, clients: list[Client]
) -> None:
    srv = await start(
        spawn_area_size=10.0,
        send_buffer_high=4096,
        socket_send_buffer=4096,
        slow_client_timeout=1.0,
        npc_count=20,
        chat_rate_limit=119,  # the talker's chat fills the slow client's buffer
        chat_rate_window=1.0,
    )
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.setblocking(False)
    await asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", srv.port))
    slow = await open_client(srv.url, "sloth", sock=sock, max_queue=1)
    talker = await open_client(srv.url, "talker")
    clients += [slow, talker]
    slow_nid = slow.nid
    # The talker chats within its rate limit; every line also goes to the slow client, which
    # reads nothing from now on. The talker keeps reading its own frames meanwhile.
    line = orjson.dumps({"op": "chat", "text": "y" * 250}).decode()
    loop = asyncio.get_running_loop()
    seq_start = talker.mirror.last_seq
    assert talker.mirror.local is not None
    x0, y0 = talker.mirror.local[0], talker.mirror.local[1]
    step = 0
    t0 = loop.time()
    tick0 = srv.state.world.tick
    while slow_nid in {c.nid for c in srv.state.players.values()} and loop.time() - t0 < 20:
        for _ in range(3):
            await talker.ws.send(line)
        step += 1
        await talker.move(x0 + 0.1 * (step % 50), y0)  # moving, so every patch carries its echo
        await talker.drain(0.03)
    assert slow_nid not in {c.nid for c in srv.state.players.values()}, "slow client was not closed"
    elapsed = loop.time() - t0
    ticks = srv.state.world.tick - tick0
    frames = talker.mirror.last_seq - seq_start
    # The server kept ticking and the talker kept getting its patches while the slow one lagged.
    assert ticks >= 0.5 * srv.state.config.tickrate * elapsed, (ticks, elapsed)
    assert frames >= 0.5 * srv.state.config.send_rate * elapsed, (frames, elapsed)
    assert await slow.closed_code(timeout=10) == CloseCode.TOO_SLOW


async def test_dropped_client_resumes_same_player_and_net_id(
    start: ServerFactory, clients: list[Client]
) -> None:
    srv = await start()
    a = await open_client(srv.url, "phoenix")
    clients.append(a)
    pid, nid, token = a.mirror.player_id, a.nid, a.mirror.resume_token
    assert token
    a.ws.transport.abort()  # no close frame: a network drop
    await asyncio.sleep(0.2)
    # The token is phoenix's: another guest presenting it joins as itself, and the token
    # stays good for phoenix.
    other = await open_client(srv.url, "someone-else", resume=token)
    clients.append(other)
    assert other.mirror.welcome is not None and not other.mirror.welcome.resumed
    assert other.mirror.player_id != pid
    b = await open_client(srv.url, "phoenix", resume=token)
    clients.append(b)
    assert b.mirror.welcome is not None and b.mirror.welcome.resumed
    assert b.mirror.player_id == pid and b.nid == nid
    assert b.mirror.welcome.name == "phoenix"


async def test_leave_is_final(start: ServerFactory, clients: list[Client]) -> None:
    srv = await start()
    a = await open_client(srv.url, "quitter")
    clients.append(a)
    token = a.mirror.resume_token
    await a.ws.send(orjson.dumps({"op": "leave"}).decode())
    assert await a.closed_code() == CloseCode.NORMAL
    b = await open_client(srv.url, "quitter2", resume=token)
    clients.append(b)
    assert b.mirror.welcome is not None and not b.mirror.welcome.resumed


async def test_drain_sends_reconnect_then_1012_and_resume_keeps_player(
    start: ServerFactory, clients: list[Client]
) -> None:
    store = MemoryPersistence()
    srv = await start(persistence=store, drain_timeout=2.0)
    a = await open_client(srv.url, "loyal")
    clients.append(a)
    pid = a.mirror.player_id
    closing = asyncio.create_task(srv.close(drain=True))
    notice = await a.text("reconnect")
    assert notice["resume_token"] and notice["resume_window"] > 0
    try:
        while True:
            await a.recv_one(5)
    except ConnectionClosed as e:
        assert e.rcvd is not None and e.rcvd.code == CloseCode.SERVICE_RESTART
    await closing
    srv2 = await start(persistence=store)
    b = await open_client(srv2.url, "loyal", resume=str(notice["resume_token"]))
    clients.append(b)
    assert b.mirror.welcome is not None and b.mirror.welcome.resumed
    assert b.mirror.player_id == pid


async def test_chat_reaches_players_in_view_only(
    start: ServerFactory, clients: list[Client]
) -> None:
    srv = await start(spawn_area_size=10.0, player_max_speed=1000.0)
    a = await open_client(srv.url, "speaker")
    near = await open_client(srv.url, "near")
    far = await open_client(srv.url, "far")
    clients += [a, near, far]
    assert far.mirror.local is not None
    await far.walk(far.mirror.local[0] + 1500, far.mirror.local[1], speed=800)
    await a.ws.send(orjson.dumps({"op": "chat", "text": "hello there"}).decode())
    msg = await near.text("chat")
    assert msg["text"] == "hello there" and msg["from_id"] == a.nid and msg["name"] == "speaker"
    await far.drain(0.3)
    assert not any(t.get("op") == "chat" for t in far.texts)


async def test_talk_to_a_visible_npc_gets_an_offline_reply(
    start: ServerFactory, clients: list[Client]
) -> None:
    srv = await start(npc_count=50, spawn_area_size=50.0)
    a = await open_client(srv.url, "talker")
    clients.append(a)
    await a.until(lambda c: any(n <= 50 for n in c.mirror.entities))
    npc = next(n for n in a.mirror.entities if n <= 50)
    await a.ws.send(orjson.dumps({"op": "talk", "npc": npc, "text": "seen anything?"}).decode())
    say = await a.text("npc_say")
    assert say["npc"] == npc and say["to"] == a.nid and isinstance(say["text"], str) and say["text"]


async def test_silent_client_is_dropped_by_keepalive_and_can_resume(
    start: ServerFactory, clients: list[Client]
) -> None:
    srv = await start(ping_interval=0.5, ping_timeout=1.0)
    a = await open_client(srv.url, "ghost", ping_interval=None)
    clients.append(a)
    token, pid = a.mirror.resume_token, a.mirror.player_id
    a.ws.transport.pause_reading()  # the client stops answering pings, like a dead peer
    loop = asyncio.get_running_loop()
    end = loop.time() + 10
    while pid in srv.state.players and loop.time() < end:
        await asyncio.sleep(0.1)
    assert pid not in srv.state.players, "silent client was not dropped"
    assert pid in srv.state.reserved  # kept for resume
    b = await open_client(srv.url, "ghost", resume=token)
    clients.append(b)
    assert b.mirror.welcome is not None and b.mirror.welcome.resumed and b.mirror.player_id == pid


async def test_empty_patches_are_skipped_but_a_heartbeat_keeps_coming(
    start: ServerFactory, clients: list[Client]
) -> None:
    srv = await start(npc_count=0, idle_patch_interval=0.5)
    a = await open_client(srv.url, "idle")
    clients.append(a)
    await a.drain(0.3)
    first = len(a.frames)
    await a.drain(2.0)
    idle_frames = len(a.frames) - first
    # Nothing moves: a heartbeat every 0.5 s instead of 60 patches in 2 s.
    assert 2 <= idle_frames <= 6, idle_frames
    heads = [decode_header(f) for _, f in a.frames]
    assert [h[1] for h in heads] == list(range(1, len(heads) + 1))  # seq has no gaps
    # As soon as something moves, patches flow at the send rate again.
    assert a.mirror.local is not None
    for i in range(30):
        await a.move(a.mirror.local[0] + 0.2 * i, a.mirror.local[1])
        await a.drain(1 / 30)
    moving = len(a.frames) - first - idle_frames
    assert moving >= 15, moving


async def test_every_patch_is_sent_when_the_heartbeat_is_off(
    start: ServerFactory, clients: list[Client]
) -> None:
    srv = await start(npc_count=0, idle_patch_interval=0)
    a = await open_client(srv.url, "eager")
    clients.append(a)
    await a.drain(1.0)
    assert len(a.frames) >= 15
