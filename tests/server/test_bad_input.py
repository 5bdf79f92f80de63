"""Malformed and hostile input gets the documented answer; everyone else keeps playing."""

from __future__ import annotations

import itertools
import math
import struct

import orjson

from protocol.catalogue import CloseCode, ErrorCode
from protocol.state import InputFrame, decode_header, encode_input
from tests.server.conftest import Client, ServerFactory, open_client


async def _expect_error(c: Client, send: bytes | str, code: ErrorCode) -> dict[str, object]:
    await c.ws.send(send)
    msg = await c.text("error")
    assert msg["code"] == int(code), msg
    assert msg["name"] == code.name
    return msg


async def test_each_bad_message_gets_its_error_and_others_keep_receiving(
    start: ServerFactory, clients: list[Client]
) -> None:
    srv = await start(npc_count=10, spawn_area_size=10.0)
    bad = await open_client(srv.url, "mallory")
    good = await open_client(srv.url, "alice")
    clients += [bad, good]
    seq0 = good.mirror.last_seq
    await _expect_error(bad, "this is not json", ErrorCode.BAD_JSON)
    await _expect_error(bad, "[1, 2]", ErrorCode.BAD_JSON)
    await _expect_error(bad, orjson.dumps({"op": "dance"}).decode(), ErrorCode.UNKNOWN_OP)
    await _expect_error(bad, orjson.dumps({"op": "chat"}).decode(), ErrorCode.BAD_FIELD)
    await _expect_error(
        bad, orjson.dumps({"op": "chat", "text": "x" * 300}).decode(), ErrorCode.BAD_FIELD
    )
    await _expect_error(bad, b"\x10\x01\x02", ErrorCode.BAD_FRAME)
    await _expect_error(bad, b"\x7f" + bytes(24), ErrorCode.BAD_FRAME)
    await _expect_error(bad, b"", ErrorCode.BAD_FRAME)
    nan = struct.pack("<BIIffff", 0x10, 1, 0, math.nan, 0.0, 0.0, 0.0)
    await _expect_error(bad, nan, ErrorCode.NON_FINITE)
    inf = struct.pack("<BIIffff", 0x10, 2, 0, 0.0, math.inf, 0.0, 0.0)
    await _expect_error(bad, inf, ErrorCode.NON_FINITE)
    await _expect_error(
        bad, orjson.dumps({"op": "ping", "id": 1, "t": "soon"}).decode(), ErrorCode.BAD_FIELD
    )
    await _expect_error(bad, bad.mirror.hello().decode(), ErrorCode.ALREADY_WELCOMED)
    await _expect_error(
        bad,
        orjson.dumps({"op": "talk", "npc": 65000, "text": "hi"}).decode(),
        ErrorCode.UNKNOWN_ENTITY,
    )
    # Impossible moves are answered with an error and the authoritative position.
    await _expect_error(
        bad, encode_input(InputFrame(3, 0, 3000.0, 3000.0, 0.0, 0.0)), ErrorCode.IMPOSSIBLE_MOVE
    )
    corr = await bad.text("correct")
    assert corr["ref"] == 3 and abs(float(corr["x"]) - 3000.0) > 100  # type: ignore[arg-type]
    await _expect_error(
        bad, encode_input(InputFrame(4, 0, 99999.0, 0.0, 0.0, 0.0)), ErrorCode.OUT_OF_BOUNDS
    )
    await bad.text("correct")
    # The good client kept getting frames all along, and the bad one is still connected.
    await good.drain(0.3)
    assert good.mirror.last_seq > seq0 + 5
    await bad.ws.send(orjson.dumps({"op": "ping", "id": 9}).decode())
    pong = await bad.text("pong")
    assert pong["id"] == 9


async def test_a_non_finite_coordinate_anywhere_is_non_finite(
    start: ServerFactory, clients: list[Client]
) -> None:
    """Each of x, y, z and heading is checked (the INPUT fast path tests all four at once),
    with decode_input's message; a valid INPUT after them is taken."""
    srv = await start(npc_count=0, spawn_area_size=10.0)
    c = await open_client(srv.url, "nan")
    clients.append(c)
    for seq, bad in enumerate((math.nan, math.inf, -math.inf, math.nan), start=1):
        coords = [0.0, 0.0, 0.0, 0.0]
        coords[seq - 1] = bad
        msg = await _expect_error(
            c, struct.pack("<BIIffff", 0x10, seq, 0, *coords), ErrorCode.NON_FINITE
        )
        assert msg["message"] == "position and heading must be finite"
    p = srv.state.world.players
    x, y, z = p.x_at[c.nid], p.y_at[c.nid], p.z_at[c.nid]
    (moved,) = struct.unpack("<f", struct.pack("<f", x + 1.0))  # as the wire carries it
    await c.ws.send(encode_input(InputFrame(5, 0, moved, y, z, 0.0)))
    await c.until(lambda _: p.x_at[c.nid] == moved)


async def test_oversized_message_closes_1009(start: ServerFactory, clients: list[Client]) -> None:
    srv = await start(max_message_size=1024)
    a = await open_client(srv.url, "big")
    b = await open_client(srv.url, "bystander")
    clients += [a, b]
    await a.ws.send("x" * 5000)
    assert await a.closed_code() == CloseCode.MESSAGE_TOO_BIG
    before = b.mirror.last_seq
    await b.drain(0.2)
    assert b.mirror.last_seq > before


async def test_handshake_violations_close_with_their_codes(
    start: ServerFactory, clients: list[Client]
) -> None:
    srv = await start(handshake_timeout=0.5)
    cases: list[tuple[bytes | str, CloseCode]] = [
        (b"\x10" + bytes(24), CloseCode.BAD_HELLO),
        (orjson.dumps({"op": "ping", "id": 1}).decode(), CloseCode.BAD_HELLO),
        ("{not json", CloseCode.BAD_HELLO),
        (orjson.dumps({"op": "hello", "v": 1}).decode(), CloseCode.BAD_HELLO),
        (orjson.dumps({"op": "hello", "v": 1, "name": ""}).decode(), CloseCode.BAD_HELLO),
        (
            orjson.dumps({"op": "hello", "v": 99, "name": "future"}).decode(),
            CloseCode.UNSUPPORTED_VERSION,
        ),
    ]
    for payload, code in cases:
        c = await open_client(srv.url, "x", welcome=False)
        clients.append(c)
        await c.ws.send(payload)
        assert await c.closed_code() == code, payload
    silent = await open_client(srv.url, "silent", welcome=False)
    clients.append(silent)
    assert await silent.closed_code(timeout=5) == CloseCode.HANDSHAKE_TIMEOUT


async def test_floods_are_rate_limited_then_closed(
    start: ServerFactory, clients: list[Client]
) -> None:
    srv = await start(input_rate_limit=20, flood_close_after=2)
    a = await open_client(srv.url, "flooder")
    clients.append(a)
    ping = orjson.dumps({"op": "ping", "id": 1}).decode()
    for _ in range(40):
        await a.ws.send(ping)
    msg = await a.text("error")
    assert msg["code"] == ErrorCode.RATE_LIMITED

    async def keep_flooding() -> None:
        for _ in range(400):
            await a.ws.send(ping)
            await a.ws.send(ping)
            import asyncio

            await asyncio.sleep(0.01)

    import asyncio
    import contextlib

    task = asyncio.create_task(keep_flooding())
    try:
        assert await a.closed_code(timeout=8) == CloseCode.FLOODING
    finally:
        task.cancel()
        with contextlib.suppress(BaseException):
            await task


async def test_many_malformed_messages_close_4008(
    start: ServerFactory, clients: list[Client]
) -> None:
    srv = await start()
    a = await open_client(srv.url, "noisy")
    clients.append(a)
    for _ in range(30):
        await a.ws.send("}")
    assert await a.closed_code() == CloseCode.TOO_MANY_ERRORS


async def test_state_frames_have_consecutive_seq_and_rising_ticks(
    start: ServerFactory, clients: list[Client]
) -> None:
    srv = await start()
    a = await open_client(srv.url, "counter")
    clients.append(a)
    await a.drain(0.5)
    heads = [decode_header(f) for _, f in a.frames]
    seqs = [h[1] for h in heads]
    ticks = [h[2] for h in heads]
    assert seqs == list(range(1, len(seqs) + 1))
    assert all(t2 > t1 for t1, t2 in itertools.pairwise(ticks))
    assert heads[0][0] & 1  # the first frame is a FULL snapshot
