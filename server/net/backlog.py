"""How much a client has not yet taken: the server's queue for it and the kernel's.

Two numbers decide whether a client keeps up (SPEC.md §10.1):

- the transport's write buffer: bytes the server holds in its own memory because the kernel
  would not take them. Every frame counts, control frames included (pongs, close, errors,
  chat), so one cap (CLIENT_SEND_QUEUE_MAX) bounds what any client can make the server hold.
- the socket's send queue (SIOCOUTQ): bytes the kernel holds that the client's TCP stack has
  not acknowledged. A client that stops reading fills this first, and on Linux it grows to
  several MB before the write buffer moves at all; watching only the write buffer left such a
  client to the keepalive (40 s and a reset) instead of a 4006 after SLOW_CLIENT_TIMEOUT.

The kernel figure costs a system call, so it is sampled by housekeeping (about once a second
per connection), never per frame.
"""

from __future__ import annotations

import fcntl
import socket
import sys
import termios

# SIOCOUTQ on Linux: unacknowledged bytes. Elsewhere only the server's own queue is seen.
_OUTQ: int | None = getattr(termios, "TIOCOUTQ", None)

_buf = bytearray(4)  # one buffer for every probe: housekeeping runs on one thread


def socket_fd(sock: socket.socket | None) -> int:
    """The descriptor to probe, or -1 when the transport has no real socket."""
    if sock is None:
        return -1
    try:
        return sock.fileno()
    except (OSError, AttributeError, ValueError):
        return -1


def kernel_unsent(fd: int) -> int:
    """Bytes in the socket's send queue the peer has not acknowledged; 0 when unknown."""
    if fd < 0 or _OUTQ is None:
        return 0
    try:
        fcntl.ioctl(fd, _OUTQ, _buf, True)
    except OSError:
        return 0
    return int.from_bytes(_buf, sys.byteorder)
