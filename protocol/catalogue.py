"""The one message catalogue: every opcode, flag, error and close code on the wire.

Why one module: clients in four runtimes and the server must agree byte for byte. Anything a
client can send or receive is named here; `SPEC.md` documents the same names and numbers, and
the tests check the two stay in step.
"""

from __future__ import annotations

from enum import IntEnum, IntFlag, StrEnum

PROTOCOL_VERSION = 1
"""Bumped on any incompatible change to a message or frame layout."""

SUPPORTED_VERSIONS = frozenset({1})


class ClientOp(StrEnum):
    """`op` values of JSON (text-frame) messages a client sends."""

    HELLO = "hello"
    PING = "ping"
    CHAT = "chat"
    TALK = "talk"
    LEAVE = "leave"
    CUSTOM = "custom"  # a game mode's own message: namespaced `type`, JSON object `data`
    WHO = "who"  # who are these entities (names, roles)
    # --- factions and companions (SPEC §4.2) ---
    FACTION = "faction"  # create, join, leave, promote, kick or look at a faction (`action`)
    COMPANION = "companion"  # summon, dismiss, recall or list your companions (`action`)
    MISSION = "mission"  # ask for, accept, abandon, complete or list missions (`action`)


class ServerOp(StrEnum):
    """`op` values of JSON (text-frame) messages the server sends."""

    WELCOME = "welcome"
    PONG = "pong"
    ERROR = "error"
    RECONNECT = "reconnect"
    CORRECT = "correct"
    CHAT = "chat"
    NPC_SAY = "npc_say"
    EVENT = "event"  # a game event the player must see (money, faction, mission, ...)
    CUSTOM = "custom"  # a game mode's own message: namespaced `type`, JSON object `data`
    WHO = "who"  # answer to a client's `who`
    NPC_SAY_PART = "npc_say_part"  # a streamed piece of an NPC's reply, before its `npc_say`


class FrameType(IntEnum):
    """First byte of every binary frame."""

    STATE = 0x01  # server -> client: snapshot or delta
    INPUT = 0x10  # client -> server: movement input


class StateFlag(IntFlag):
    """Bits of a STATE frame's flags byte."""

    NONE = 0
    FULL = 0x01  # full snapshot: forget every known entity, then apply the frame


class EntityKind(IntEnum):
    """Kinds of entities in ENTER records."""

    PLAYER = 1
    NPC = 2


class ErrorCode(IntEnum):
    """Codes of non-fatal `error` messages: the connection stays open."""

    BAD_JSON = 1  # a text frame that is not a JSON object
    UNKNOWN_OP = 2  # `op` missing or not in ClientOp
    BAD_FIELD = 3  # a field is missing, of the wrong type or out of range
    BAD_FRAME = 4  # binary frame truncated, too long or of unknown type
    NOT_READY = 5  # a message other than hello before the welcome
    IMPOSSIBLE_MOVE = 6  # faster than PLAYER_MAX_SPEED; a `correct` follows
    OUT_OF_BOUNDS = 7  # position outside the world; a `correct` follows
    NON_FINITE = 8  # NaN or infinity in a number
    RATE_LIMITED = 9  # more messages per second than allowed; the message was dropped
    UNKNOWN_ENTITY = 10  # the message names an entity you cannot see
    ALREADY_WELCOMED = 11  # a second hello on the same connection
    STALE_INPUT = 12  # INPUT seq not greater than the last one taken; the INPUT was dropped
    UNKNOWN_TYPE = 13  # a `custom` message whose `type` no game mode handles
    HANDLER_FAILED = 14  # the game mode's handler for this message failed; nothing changed
    MISSION_REFUSED = 15  # a `mission` request the game refused; `message` starts with the reason
    # --- factions and companions: `message` starts with the reason (`reason: explanation`) ---
    FACTION_REFUSED = 16  # a `faction` request the rules refused; nothing changed
    COMPANION_REFUSED = 17  # a `companion` request the rules refused; nothing changed
    CHAT_RATE_LIMITED = 18  # over CHAT_RATE_LIMIT chat/custom messages; the message was dropped
    # --- anti-cheat (SPEC §11); 19 is free ---
    CLIMB_TOO_FAST = 20  # rose faster than PLAYER_MAX_CLIMB_SPEED; a `correct` follows
    BELOW_FLOOR = 21  # INPUT z under the world floor; a `correct` follows
    BAD_ACK = 22  # INPUT ack names a STATE frame never sent, or goes backwards; the ack is ignored


# --- factions and companions (SPEC §4.2 `faction` / `companion`, §4.3 `event`) ---
FACTION_ACTIONS = ("create", "join", "leave", "promote", "kick", "info")
"""`action` values of the client's `faction` message."""

FACTION_RANKS = ("recruit", "member", "officer", "leader")
"""Faction ranks, lowest first; `rank` in events is the index here."""

FACTION_REFUSALS = (
    "forbidden",
    "exists",
    "unknown_faction",
    "already_member",
    "not_member",
    "not_same_faction",
    "rank",
    "leader_must_hand_over",
    "self",
    "busy",
    "unavailable",
)
"""Reasons a FACTION_REFUSED error starts with (SPEC §12)."""

COMPANION_ACTIONS = ("summon", "dismiss", "recall", "info")
"""`action` values of the client's `companion` message."""

COMPANION_KINDS = ("dog", "bodyguard", "driver", "hacker", "medic", "friend")
"""What a companion can be (`kind` of a new companion)."""

COMPANION_REFUSALS = (
    "bad_name",
    "not_found",
    "limit",
    "refuses",
    "not_in_world",
    "capacity",
    "not_summoned",
    "busy",
    "unavailable",
)
"""Reasons a COMPANION_REFUSED error starts with (SPEC §12)."""


# --- missions (SPEC §4.2 `mission`, §4.3 `event`) ---
MISSION_ACTIONS = ("request", "accept", "abandon", "complete", "list")
"""`action` values of the client's `mission` message (SPEC §4.2)."""

MISSION_STATUSES = ("offered", "accepted", "completed", "failed", "expired")
"""`status` of a mission in `event` type `mission` (SPEC §4.3)."""

MISSION_REFUSALS = (
    "unknown_mission",
    "not_offered",
    "offer_expired",
    "not_accepted",
    "incomplete",
    "too_many_offers",
    "busy",
    "unavailable",
)
"""Reasons a MISSION_REFUSED error starts with (`reason: explanation`), SPEC §12."""


class CloseCode(IntEnum):
    """WebSocket close codes the server uses. 1xxx are RFC 6455; 4xxx are ours."""

    NORMAL = 1000  # client said `leave`, or server shutdown with nothing to resume
    PROTOCOL_ERROR = 1002  # broken WebSocket framing
    MESSAGE_TOO_BIG = 1009  # a message larger than MAX_MESSAGE_SIZE
    INTERNAL_ERROR = 1011
    SERVICE_RESTART = 1012  # graceful drain; a `reconnect` message came first
    UNSUPPORTED_VERSION = 4001  # hello.v not supported; reason lists the supported versions
    HANDSHAKE_TIMEOUT = 4002  # no valid hello within HANDSHAKE_TIMEOUT seconds
    BAD_HELLO = 4003  # first message was not a valid hello
    AUTH_FAILED = 4004  # token rejected
    SERVER_FULL = 4005  # MAX_PLAYERS already connected
    TOO_SLOW = 4006  # behind for SLOW_CLIENT_TIMEOUT s, or over CLIENT_SEND_QUEUE_MAX queued
    FLOODING = 4007  # over INPUT_RATE_LIMIT for FLOOD_CLOSE_AFTER seconds
    TOO_MANY_ERRORS = 4008  # too many malformed messages
    REPLACED = 4010  # the same player resumed on another connection
    KICKED = 4011  # removed by an administrator, or by the anti-cheat (violation score)
    RESUME_REFUSED = 4012  # hello.resume names a player still connected (that player stays); retry
    FORBIDDEN = 4013  # admin console: a valid token without any admin permission


class ProtocolError(Exception):
    """A peer broke the protocol. Carries the code to answer with.

    Exactly one of `error` (answer with an error message, keep the connection) or `close`
    (close the connection with that code) is set.
    """

    def __init__(
        self,
        message: str,
        *,
        error: ErrorCode | None = None,
        close: CloseCode | None = None,
    ) -> None:
        if (error is None) == (close is None):
            raise ValueError("exactly one of error or close")
        super().__init__(message)
        self.message = message
        self.error = error
        self.close = close
