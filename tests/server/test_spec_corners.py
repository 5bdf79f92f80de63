"""What a client written from SPEC.md alone ran into, against a real server (issue 12, item 22)."""

from __future__ import annotations

import orjson

from protocol import control as c
from protocol.catalogue import CloseCode, ErrorCode
from protocol.state import InputFrame, encode_input
from server.limits import welcome_limits
from tests.server.conftest import Client, ServerFactory, open_client
from tests.server.test_framing import masked


async def test_welcome_announces_every_limit(start: ServerFactory, clients: list[Client]) -> None:
    srv = await start(player_max_speed=42.0, slow_client_timeout=7.0, idle_patch_interval=0.5)
    a = await open_client(srv.url, "reader")
    clients.append(a)
    welcome = next(t for t in a.texts if t["op"] == "welcome")
    assert welcome["limits"] == welcome_limits(srv.state.config)
    limits = welcome["limits"]
    assert (limits["player_max_speed"], limits["slow_client_timeout"]) == (42.0, 7.0)
    assert limits["idle_patch_interval"] == 0.5
    assert welcome["input_rate_limit"] == srv.state.config.input_rate_limit
    assert a.mirror.welcome is not None and a.mirror.welcome.limits == limits


async def test_invalid_utf8_is_bad_json_and_duplicate_keys_take_the_last(
    start: ServerFactory, clients: list[Client]
) -> None:
    srv = await start()
    a = await open_client(srv.url, "utf8")
    clients.append(a)
    a.ws.transport.write(masked(1, b'{"op":"chat","text":"\xc3\x28"}'))
    err = await a.text("error")
    assert err["code"] == ErrorCode.BAD_JSON, err
    await a.ws.send('{"op":"ping","id":1,"id":2}')
    assert (await a.text("pong"))["id"] == 2  # the connection is still open, too
    first = await open_client(srv.url, "x", welcome=False)
    clients.append(first)
    first.ws.transport.write(masked(1, b'{"op":"hello","v":1,"name":"\xff"}'))
    assert await first.closed_code() == CloseCode.BAD_HELLO


async def test_a_maximal_hello_is_read_whatever_the_message_size(
    start: ServerFactory, clients: list[Client]
) -> None:
    """A hello with every field at its limit fits; MAX_MESSAGE_SIZE applies after it."""
    srv = await start(max_message_size=1024)
    wide = "\U0001d4d0"
    hello = c.Hello(v=1, name=wide * c.NAME_MAX, token="e" * c.TOKEN_MAX, resume=wide * 256)
    assert len(c.encode(hello)) > 3000
    full = await open_client(srv.url, "max", welcome=False)
    clients.append(full)
    await full.ws.send(c.encode(hello).decode())
    # Read whole and parsed: what refuses it is the token check, not the size.
    assert await full.closed_code() == CloseCode.AUTH_FAILED
    # A guest's hello over MAX_MESSAGE_SIZE (the longest display name, a maximal resume token)
    # is welcomed; its name is normalised (NFKC: the script capital A is an A).
    hello = c.Hello(v=1, name=wide * 24, resume=wide * 256)
    assert len(c.encode(hello)) > 1024
    a = await open_client(srv.url, "max", welcome=False)
    clients.append(a)
    await a.ws.send(c.encode(hello).decode())
    welcome = await a.text("welcome")
    assert welcome["resumed"] is False and welcome["name"] == "A" * 24
    await a.ws.send(orjson.dumps({"op": "chat", "text": "y" * 200 + wide * 220}).decode())
    assert await a.closed_code() == CloseCode.MESSAGE_TOO_BIG


async def test_repeated_and_older_input_seqs_are_stale_gaps_are_fine(
    start: ServerFactory, clients: list[Client]
) -> None:
    srv = await start(npc_count=0)
    a = await open_client(srv.url, "seq")
    clients.append(a)
    w = a.mirror.welcome
    assert w is not None
    players = srv.state.world.players

    async def send(seq: int, dx: float) -> None:
        await a.ws.send(encode_input(InputFrame(seq, 0, w.x + dx, w.y, w.z, 0.0)))

    await send(5, 1.0)  # a first seq above 1: a gap, fine
    await send(9, 2.0)
    await a.drain(0.2)
    assert abs(players.x[a.nid] - (w.x + 2.0)) < 1e-3
    for seq in (9, 7):  # a duplicate, then an older one
        await send(seq, 3.0)
        err = await a.text("error")
        assert err["code"] == ErrorCode.STALE_INPUT and err["ref"] == seq, err
    await a.drain(0.2)
    assert abs(players.x[a.nid] - (w.x + 2.0)) < 1e-3  # neither moved the player
    await send(10, 3.0)
    await a.drain(0.2)
    assert abs(players.x[a.nid] - (w.x + 3.0)) < 1e-3
