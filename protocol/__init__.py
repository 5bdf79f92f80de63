"""GangGPT wire protocol, sans-I/O: bytes and dicts in, messages and bytes out.

Nothing here touches sockets or asyncio, so the same code serves the server, the Python SDK,
the load tester and the tests; `SPEC.md` beside this file is the normative description.
"""

from __future__ import annotations

from protocol.catalogue import (
    PROTOCOL_VERSION,
    SUPPORTED_VERSIONS,
    ClientOp,
    CloseCode,
    EntityKind,
    ErrorCode,
    FrameType,
    ProtocolError,
    ServerOp,
    StateFlag,
)
from protocol.quant import WorldBounds

__all__ = [
    "PROTOCOL_VERSION",
    "SUPPORTED_VERSIONS",
    "ClientOp",
    "CloseCode",
    "EntityKind",
    "ErrorCode",
    "FrameType",
    "ProtocolError",
    "ServerOp",
    "StateFlag",
    "WorldBounds",
]
