"""The phases of one connection and the only ways from one to the next (SPEC.md §3).

Pure and synchronous (no asyncio, no sockets), so the lifecycle can be tested by itself and
every runtime's server or client can follow the same table. The transport asks `advance` for
each step it takes; a step the table does not allow raises `IllegalStep` instead of leaving a
connection in a phase no code expects.

    HTTP --upgrade_game--> HELLO --hello--> AUTH --verified--> JOINING --welcomed--> PLAYING
    HTTP --upgrade_admin--> ADMIN_AUTH --admin_authed--> ADMIN   (the admin console, SPEC §19)
    any open phase --close--> CLOSING --lost--> CLOSED;  any phase --lost--> CLOSED

AUTH is where a hello's token is checked (guests pass straight through today); JOINING is
where the player is loaded. What a client may send in each phase is `ACCEPTS`.
"""

from __future__ import annotations

import enum


class Phase(enum.Enum):
    HTTP = "http"  # waiting for the HTTP request (plain HTTP or a WebSocket upgrade)
    HELLO = "hello"  # WebSocket open, waiting for the first message, a hello
    AUTH = "auth"  # hello read; its token (or guest name) is being verified
    JOINING = "joining"  # identity known; the player is being loaded and placed
    PLAYING = "playing"  # welcomed: game messages and INPUT frames
    ADMIN_AUTH = "admin_auth"  # WebSocket open on /admin, waiting for the `auth` message
    ADMIN = "admin"  # an administrator's session on /admin: commands and pushes
    CLOSING = "closing"  # a close was sent or the peer went away; nothing more is handled
    CLOSED = "closed"  # the socket is gone


class Step(enum.Enum):
    UPGRADE_GAME = "upgrade_game"  # a WebSocket upgrade on a game path was accepted
    UPGRADE_ADMIN = "upgrade_admin"  # a WebSocket upgrade on the admin path was accepted
    HELLO = "hello"  # a valid hello arrived
    VERIFIED = "verified"  # the hello's identity was accepted
    WELCOMED = "welcomed"  # the player is in the world and was sent `welcome`
    ADMIN_AUTHED = "admin_authed"  # the admin `auth` message's token and grants were accepted
    CLOSE = "close"  # the server closes (any reason), or answered plain HTTP
    LOST = "lost"  # the socket is gone


class Accept(enum.Enum):
    """What a client message is met with in a phase."""

    NOTHING = "nothing"  # ignored: the connection is closing or not a WebSocket yet
    HELLO = "hello"  # only a hello; anything else closes with BAD_HELLO
    NOT_READY = "not_ready"  # answered with NOT_READY: wait for the welcome
    GAME = "game"  # game messages and INPUT frames
    ADMIN_AUTH = "admin_auth"  # only the admin `auth` message (JSON text)
    ADMIN = "admin"  # admin commands (JSON text)


_OPEN = (
    Phase.HTTP,
    Phase.HELLO,
    Phase.AUTH,
    Phase.JOINING,
    Phase.PLAYING,
    Phase.ADMIN_AUTH,
    Phase.ADMIN,
)

TRANSITIONS: dict[tuple[Phase, Step], Phase] = {
    (Phase.HTTP, Step.UPGRADE_GAME): Phase.HELLO,
    (Phase.HTTP, Step.UPGRADE_ADMIN): Phase.ADMIN_AUTH,
    (Phase.ADMIN_AUTH, Step.ADMIN_AUTHED): Phase.ADMIN,
    (Phase.HELLO, Step.HELLO): Phase.AUTH,
    (Phase.AUTH, Step.VERIFIED): Phase.JOINING,
    (Phase.JOINING, Step.WELCOMED): Phase.PLAYING,
    **{(p, Step.CLOSE): Phase.CLOSING for p in _OPEN},
    (Phase.CLOSING, Step.CLOSE): Phase.CLOSING,  # closing twice is harmless
    **{(p, Step.LOST): Phase.CLOSED for p in Phase},
}

ACCEPTS: dict[Phase, Accept] = {
    Phase.HTTP: Accept.NOTHING,
    Phase.HELLO: Accept.HELLO,
    Phase.AUTH: Accept.NOT_READY,
    Phase.JOINING: Accept.NOT_READY,
    Phase.PLAYING: Accept.GAME,
    Phase.ADMIN_AUTH: Accept.ADMIN_AUTH,
    Phase.ADMIN: Accept.ADMIN,
    Phase.CLOSING: Accept.NOTHING,
    Phase.CLOSED: Accept.NOTHING,
}


class IllegalStep(Exception):
    """A step the table does not allow from the current phase: a bug in the caller."""


def advance(phase: Phase, step: Step) -> Phase:
    """The phase after `step`, or `IllegalStep`."""
    nxt = TRANSITIONS.get((phase, step))
    if nxt is None:
        raise IllegalStep(f"{step.value} is not allowed in phase {phase.value}")
    return nxt


def allowed(phase: Phase, step: Step) -> bool:
    return (phase, step) in TRANSITIONS


__all__ = ["ACCEPTS", "TRANSITIONS", "Accept", "IllegalStep", "Phase", "Step", "advance", "allowed"]
