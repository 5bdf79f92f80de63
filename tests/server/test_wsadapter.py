"""Pins the websockets internals `server/net/wsadapter.py` relies on (a websockets upgrade
that changes them fails here, not in production)."""

from __future__ import annotations

import logging

import websockets
from websockets.frames import Frame, Opcode
from websockets.http11 import Request
from websockets.protocol import State
from websockets.server import ServerProtocol

from server.net import wsadapter

HANDSHAKE = (
    b"GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
)


def _open() -> ServerProtocol:
    ws = wsadapter.new_server_protocol(4096, logging.getLogger("test"))
    ws.receive_data(HANDSHAKE)
    (req,) = ws.events_received()
    assert isinstance(req, Request)
    ws.send_response(ws.accept(req))
    assert ws.state is State.OPEN
    return ws


def _masked(payload: bytes, op: int = 0x82) -> bytes:
    mask = b"\x01\x02\x03\x04"
    body = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    return bytes([op, 0x80 | len(payload)]) + mask + body


def test_pinned_major_version() -> None:
    assert int(websockets.__version__.split(".")[0]) == wsadapter.PINNED_MAJOR


def test_frame_boundary_tracks_partial_frames_and_fragmented_messages() -> None:
    ws = _open()
    assert wsadapter.at_frame_boundary(ws)
    frame = _masked(b"x" * 10)
    ws.receive_data(frame[:5])
    assert not wsadapter.at_frame_boundary(ws) and wsadapter.has_buffered_bytes(ws)
    ws.receive_data(frame[5:])
    assert wsadapter.at_frame_boundary(ws)
    ws.receive_data(_masked(b"part", op=0x02))  # binary, not final: a message is open
    assert not wsadapter.at_frame_boundary(ws)
    ws.receive_data(_masked(b"end", op=0x80))
    assert wsadapter.at_frame_boundary(ws)


def test_dropping_the_handshake_parser_keeps_parsing_frames() -> None:
    ws = _open()
    assert wsadapter.drop_handshake_parser(ws)
    ws.events_received()
    ws.receive_data(_masked(b"hello", op=0x81))
    (ev,) = ws.events_received()
    assert isinstance(ev, Frame) and ev.opcode is Opcode.TEXT and ev.data == b"hello"


def test_no_swap_with_bytes_buffered() -> None:
    ws = _open()
    ws.receive_data(_masked(b"abc")[:3])
    assert not wsadapter.drop_handshake_parser(ws)


def test_parser_error_is_forgotten_after_eof() -> None:
    ws = _open()
    ws.receive_eof()
    assert ws.parser_exc is not None
    wsadapter.forget_parser_error(ws)
    assert ws.parser_exc is None
