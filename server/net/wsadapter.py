"""Every use of websockets' private internals, in one place.

The transport drives websockets' sans-I/O `ServerProtocol` and, for speed and memory, relies
on three things that are not public API: the parser's buffer and message-size state (to know
when the next byte starts a frame, for the INPUT fast path), the parser generator itself (to
drop the handshake parser, which keeps the request alive), and `parser_exc` (which holds a
reference cycle once the socket drops). A websockets upgrade that changes any of them breaks
this module only, and `tests/server/test_wsadapter.py` pins each behaviour relied on.
"""

from __future__ import annotations

import logging

from websockets.protocol import Protocol, State
from websockets.server import ServerProtocol

PINNED_MAJOR = 17  # the websockets major version the tests pinned these internals against
OPEN = State.OPEN  # a global: `State.OPEN` takes EnumType's slow __getattr__ path (Python 3.11)


def new_server_protocol(max_size: int, logger: logging.Logger) -> ServerProtocol:
    return ServerProtocol(max_size=max_size, logger=logger)


def at_frame_boundary(ws: ServerProtocol) -> bool:
    """True when the parser holds no partial frame or message, so the next byte starts a
    frame (and whole INPUT frames may be decoded without it)."""
    return ws.state is OPEN and not ws.reader.buffer and ws.current_size is None


def has_buffered_bytes(ws: ServerProtocol) -> bool:
    return bool(ws.reader.buffer)


def drop_handshake_parser(ws: ServerProtocol) -> bool:
    """Replace the server's handshake parser by the base protocol's frame parser.

    websockets' server parser keeps the handshake request (headers and all) alive in its
    generator frame for the life of the connection; past the handshake it only parses
    frames, which the base parser does holding nothing else. Only safe at a frame boundary
    with nothing buffered; returns whether the swap was made."""
    if ws.reader.buffer:
        return False
    old = ws.parser
    ws.parser = Protocol.parse(ws)
    next(ws.parser)
    old.close()
    return True


def forget_parser_error(ws: ServerProtocol) -> None:
    """The parser's exception (EOFError on a dropped socket) holds, through its traceback,
    the parser's frame, which holds the protocol, which holds the exception: a cycle the
    collector would have to find, and never finds once frozen (TickLoop)."""
    ws.parser_exc = None


__all__ = [
    "PINNED_MAJOR",
    "at_frame_boundary",
    "drop_handshake_parser",
    "forget_parser_error",
    "has_buffered_bytes",
    "new_server_protocol",
]
