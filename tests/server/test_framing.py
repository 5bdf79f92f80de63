"""The input fast path must behave exactly like the general WebSocket parser."""

from __future__ import annotations

import asyncio
import os
import struct

import orjson

from protocol.state import InputFrame, encode_input
from tests.server.conftest import Client, ServerFactory, open_client


def masked(opcode: int, payload: bytes) -> bytes:
    """A client-to-server frame (FIN set, masked), as RFC 6455 §5.2 lays it out."""
    mask = os.urandom(4)
    n = len(payload)
    head = bytes((0x80 | opcode,)) + (
        bytes((0x80 | n,)) if n < 126 else struct.pack("!BH", 0x80 | 126, n)
    )
    body = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    return head + mask + body


async def test_coalesced_split_and_mixed_frames_all_apply(
    start: ServerFactory, clients: list[Client]
) -> None:
    srv = await start(spawn_area_size=10.0)
    a = await open_client(srv.url, "framer")
    clients.append(a)
    w = a.mirror.welcome
    assert w is not None
    players = srv.state.world.players
    raw = a.ws.transport

    # Two INPUT frames in one TCP write: both go through; the later one wins.
    raw.write(
        masked(2, encode_input(InputFrame(1, 0, w.x + 1, w.y, 0.0, 0.0)))
        + masked(2, encode_input(InputFrame(2, 0, w.x + 2, w.y, 0.0, 0.0)))
    )
    await a.drain(0.2)
    assert abs(players.x[a.nid] - (w.x + 2)) < 1e-3

    # One INPUT frame split across two writes: the parser reassembles it.
    frame = masked(2, encode_input(InputFrame(3, 0, w.x + 3, w.y, 0.0, 0.0)))
    raw.write(frame[:10])
    await asyncio.sleep(0.05)
    raw.write(frame[10:])
    await a.drain(0.2)
    assert abs(players.x[a.nid] - (w.x + 3)) < 1e-3

    # INPUT then a text ping in the same write: the input is applied, the ping answered.
    raw.write(
        masked(2, encode_input(InputFrame(4, 0, w.x + 4, w.y, 0.0, 0.0)))
        + masked(1, orjson.dumps({"op": "ping", "id": 42}))
    )
    pong = await a.text("pong")
    assert pong["id"] == 42
    assert abs(players.x[a.nid] - (w.x + 4)) < 1e-3

    # A frame that only looks like INPUT by its length but is text goes to the parser.
    raw.write(masked(1, b"x" * 25))
    err = await a.text("error")
    assert err["name"] == "BAD_JSON"
