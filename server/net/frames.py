"""Server-to-client WebSocket data frames, built without the protocol object.

Why: the tick writes thousands of binary frames a second. Server frames are never masked
(RFC 6455 §5.1) and we never fragment or compress, so the header is two to ten bytes we can
pack directly; the sans-I/O protocol still handles everything else (handshake, reading,
control frames, close), and both write to the same transport in call order.
"""

from __future__ import annotations

import struct

_H16 = struct.Struct("!BBH")
_H64 = struct.Struct("!BBQ")
FIN_BINARY = 0x82


_SHORT = [bytes((FIN_BINARY, n)) for n in range(126)]  # every one-byte-length header, made once


def binary_frame(payload: bytes) -> bytes:
    n = len(payload)
    if n < 126:
        return _SHORT[n] + payload
    if n < 65536:
        return _H16.pack(FIN_BINARY, 126, n) + payload
    return _H64.pack(FIN_BINARY, 127, n) + payload
