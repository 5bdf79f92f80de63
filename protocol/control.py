"""JSON control messages (WebSocket text frames): handshake, pings, chat, errors, drain notices.

Every message is a JSON object with an `op` string from the catalogue. Decoding validates
types and ranges and raises `ProtocolError` carrying the code to answer with, so the server
answers bad input the same way whoever wrote the client.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import asdict, dataclass, fields
from typing import Any, ClassVar

import orjson

from protocol.catalogue import (
    COMPANION_ACTIONS,
    COMPANION_KINDS,
    FACTION_ACTIONS,
    MISSION_ACTIONS,
    SUPPORTED_VERSIONS,
    ClientOp,
    CloseCode,
    ErrorCode,
    ProtocolError,
    ServerOp,
)
from protocol.quant import WorldBounds

NAME_MAX = 32  # Unicode code points (not UTF-16 units, not bytes)
TEXT_MAX = 256  # code points
TOKEN_MAX = 2048  # printable ASCII characters (a JWT is base64url and dots)
RESUME_MAX = 256  # code points
CUSTOM_TYPE = re.compile(r"[a-z0-9_]+(?:\.[a-z0-9_]+)+")
CUSTOM_TYPE_MIN = 3
CUSTOM_TYPE_MAX = 64
WHO_MAX = 64  # ids per `who` request
FACTION_NAME = re.compile(r"[a-z0-9_]{2,40}")  # a faction's name is a slug
DISPLAY_NAME_MAX = 64  # code points of a faction's display name
PLAYER_ID_MAX = 64  # code points of a player id named in a `faction` request
COMPANION_ID_MAX = 64  # code points of a companion id
MISSION_ID_MAX = 64  # code points of a mission id
MISSION_THEME_MAX = 80  # code points of a mission request's theme
VERSION_MAX = 2**31 - 1  # `v` fits a signed 32-bit integer in every client language
HELLO_MAX_SIZE = 4096
"""Bytes a hello may take whatever MAX_MESSAGE_SIZE is. Every field at its maximum, as UTF-8
without escapes: 4 * (NAME_MAX + RESUME_MAX) + TOKEN_MAX + 78 bytes of keys, punctuation, `v`
and `"spectate":true` = 3,278 bytes, so a valid hello always fits (test_control checks it)."""


# --- client -> server -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Hello:
    """First message on every connection. `token` is a JWT once accounts exist; `resume` is
    the token from an earlier `welcome` or `reconnect`, to take the same player back."""

    OP: ClassVar[str] = ClientOp.HELLO
    v: int
    name: str
    token: str | None = None
    resume: str | None = None
    # True: watch the world without a player (an administrator's camera; SPEC §3.3).
    spectate: bool | None = None


@dataclass(frozen=True, slots=True)
class Ping:
    OP: ClassVar[str] = ClientOp.PING
    id: int
    t: float | None = None


@dataclass(frozen=True, slots=True)
class Chat:
    OP: ClassVar[str] = ClientOp.CHAT
    text: str


@dataclass(frozen=True, slots=True)
class Talk:
    """Speak to an NPC you can see (by its net id)."""

    OP: ClassVar[str] = ClientOp.TALK
    npc: int
    text: str


@dataclass(frozen=True, slots=True)
class Leave:
    """Quit for good: the player is not kept for resume."""

    OP: ClassVar[str] = ClientOp.LEAVE


@dataclass(frozen=True, slots=True)
class Custom:
    """A game mode's own message. `type` is namespaced (`taxi.start`); `data` is any JSON
    object, checked by the handler the game mode registered for that type."""

    OP: ClassVar[str] = ClientOp.CUSTOM
    type: str
    data: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Who:
    """Ask who some entities in view are (names, roles, factions), by net id."""

    OP: ClassVar[str] = ClientOp.WHO
    ids: list[int]


# --- factions and companions ---


@dataclass(frozen=True, slots=True)
class Faction:
    """Factions: `action` is create (`name`, optional `display_name`), join (`name`), leave,
    promote or kick (`player`, a player id), or info (`name`, default your own faction).
    Answered by `event`s (`faction`, `faction.member`, `faction.info`) or FACTION_REFUSED."""

    OP: ClassVar[str] = ClientOp.FACTION
    action: str
    name: str | None = None
    display_name: str | None = None
    player: str | None = None


@dataclass(frozen=True, slots=True)
class Companion:
    """Companions: `action` is summon (companion `id`, or a new one called `name` of `kind`,
    or your first one), dismiss or recall (`id`, default the one in the world), or info.
    Answered by `event`s (`companion`, `companion.info`) or COMPANION_REFUSED."""

    OP: ClassVar[str] = ClientOp.COMPANION
    action: str
    id: str | None = None
    name: str | None = None
    kind: str | None = None


@dataclass(frozen=True, slots=True)
class Mission:
    """Missions: `action` is request (from NPC `npc` in view, optional `theme`), accept,
    abandon or complete (mission `id`), or list. Answered by `event`s of type `mission`."""

    OP: ClassVar[str] = ClientOp.MISSION
    action: str
    id: str | None = None
    npc: int | None = None
    theme: str | None = None


ClientMessage = Hello | Ping | Chat | Talk | Leave | Custom | Who | Faction | Companion | Mission


# --- server -> client -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Welcome:
    OP: ClassVar[str] = ServerOp.WELCOME
    v: int
    player_id: str
    net_id: int
    name: str
    server_name: str
    tick_rate: int
    send_rate: int
    tick: int
    server_time: float
    world: dict[str, float]
    aoi_radius: float
    aoi_cell_size: float
    resume_token: str
    resume_window: float
    max_message_size: int
    input_rate_limit: int
    resumed: bool
    x: float
    y: float
    z: float
    heading: float
    # Every other limit the server enforces (SPEC §4.3); None only from servers before it.
    limits: dict[str, Any] | None = None
    # True: a guest (no account; ENV=production has none). None only from servers before it.
    guest: bool | None = None
    # True: a spectator's welcome (no player entity; `net_id` names its camera). Else left out.
    spectator: bool | None = None

    @property
    def bounds(self) -> WorldBounds:
        return WorldBounds.from_dict(self.world)


@dataclass(frozen=True, slots=True)
class Pong:
    OP: ClassVar[str] = ServerOp.PONG
    id: int
    server_time: float
    t: float | None = None


@dataclass(frozen=True, slots=True)
class Error:
    OP: ClassVar[str] = ServerOp.ERROR
    code: int
    name: str
    message: str
    ref: int | None = None  # input seq the error is about, when there is one


@dataclass(frozen=True, slots=True)
class Reconnect:
    """Sent before a graceful close (1012): come back within `resume_window` seconds with
    this token in `hello.resume`, after waiting `after_ms`."""

    OP: ClassVar[str] = ServerOp.RECONNECT
    resume_token: str
    after_ms: int
    resume_window: float
    reason: str


@dataclass(frozen=True, slots=True)
class Correct:
    """Authoritative position after a rejected input: the client must snap to it."""

    OP: ClassVar[str] = ServerOp.CORRECT
    x: float
    y: float
    z: float
    heading: float
    ref: int


@dataclass(frozen=True, slots=True)
class ChatMessage:
    OP: ClassVar[str] = ServerOp.CHAT
    from_id: int
    name: str
    text: str


@dataclass(frozen=True, slots=True)
class NpcSay:
    """An NPC's whole reply. `reply_id` names the streamed reply it ends (its `npc_say_part`s
    carry the same id); `replaced` is true when `text` replaces what the parts said;
    `actions` names what the NPC did with the reply, checked and applied by the server."""

    OP: ClassVar[str] = ServerOp.NPC_SAY
    npc: int
    to: int
    text: str
    reply_id: int | None = None
    replaced: bool | None = None
    actions: list[str] | None = None


@dataclass(frozen=True, slots=True)
class NpcSayPart:
    """A piece of an NPC's reply as it is generated (whole sentences), `seq` 1, 2, ...; the
    reply ends with an `npc_say` of the same `reply_id`, or not at all when it was cancelled."""

    OP: ClassVar[str] = ServerOp.NPC_SAY_PART
    npc: int
    to: int
    reply_id: int
    seq: int
    text: str


@dataclass(frozen=True, slots=True)
class GameEvent:
    """A game event the receiving player must see (its money changed, its faction, a
    mission): `type` names it (SPEC.md lists them), `data` carries its fields."""

    OP: ClassVar[str] = ServerOp.EVENT
    type: str
    data: dict[str, Any]


@dataclass(frozen=True, slots=True)
class CustomMessage:
    """A game mode's own message to a client: the counterpart of the client's `Custom`."""

    OP: ClassVar[str] = ServerOp.CUSTOM
    type: str
    data: dict[str, Any]


@dataclass(frozen=True, slots=True)
class WhoReply:
    """Answer to `who`: one object per requested entity the client can see, e.g.
    `{"id":1,"kind":"npc","name":"Carl Diaz","role":"cop","faction":"lspd"}` or
    `{"id":700,"kind":"player","name":"Ana"}`. Ids not in view are left out."""

    OP: ClassVar[str] = ServerOp.WHO
    entities: list[dict[str, Any]]


ServerMessage = (
    Welcome
    | Pong
    | Error
    | Reconnect
    | Correct
    | ChatMessage
    | NpcSay
    | GameEvent
    | CustomMessage
    | WhoReply
    | NpcSayPart
)

_SERVER_TYPES: dict[str, type[Any]] = {
    c.OP: c
    for c in (
        Welcome,
        Pong,
        Error,
        Reconnect,
        Correct,
        ChatMessage,
        NpcSay,
        GameEvent,
        CustomMessage,
        WhoReply,
        NpcSayPart,
    )
}
# Constructor field names per op. `__dataclass_fields__` would also list the `OP` ClassVar,
# so a server field named "OP" would reach the constructor instead of being ignored.
_SERVER_FIELDS: dict[str, frozenset[str]] = {
    op: frozenset(f.name for f in fields(c)) for op, c in _SERVER_TYPES.items()
}


# --- encoding ---------------------------------------------------------------------------


def encode(msg: ClientMessage | ServerMessage) -> bytes:
    """Message -> UTF-8 JSON bytes for a text frame. `None` fields are left out."""
    body: dict[str, Any] = {"op": str(msg.OP)}
    for k, v in asdict(msg).items():
        if v is not None:
            body[k] = v
    return orjson.dumps(body)


def error(code: ErrorCode, message: str, ref: int | None = None) -> Error:
    return Error(code=int(code), name=code.name, message=message, ref=ref)


# --- decoding ---------------------------------------------------------------------------


def _bad(msg: str) -> ProtocolError:
    return ProtocolError(msg, error=ErrorCode.BAD_FIELD)


def _parse_object(data: str | bytes) -> dict[str, Any]:
    try:
        obj = orjson.loads(data)
    except orjson.JSONDecodeError as e:
        raise ProtocolError(f"not valid JSON: {e}", error=ErrorCode.BAD_JSON) from None
    if not isinstance(obj, dict):
        raise ProtocolError("a message must be a JSON object", error=ErrorCode.BAD_JSON)
    return obj


def _int(obj: dict[str, Any], key: str, lo: int, hi: int) -> int:
    v = obj.get(key)
    if not isinstance(v, int) or isinstance(v, bool) or not lo <= v <= hi:
        raise _bad(f"'{key}' must be an integer from {lo} to {hi}")
    return v


def _str(obj: dict[str, Any], key: str, lo: int, hi: int, *, optional: bool = False) -> str | None:
    v = obj.get(key)
    if v is None and optional:
        return None
    if not isinstance(v, str) or not lo <= len(v) <= hi:
        raise _bad(f"'{key}' must be a string of {lo} to {hi} characters")
    if any(c < " " for c in v):
        raise _bad(f"'{key}' must not contain control characters")
    return v


def _float(obj: dict[str, Any], key: str, *, optional: bool = False) -> float | None:
    v = obj.get(key)
    if v is None and optional:
        return None
    if not isinstance(v, (int, float)) or isinstance(v, bool):
        raise _bad(f"'{key}' must be a number")
    if not math.isfinite(v):
        raise ProtocolError(f"'{key}' must be finite", error=ErrorCode.NON_FINITE)
    return float(v)


def _decode_ping(obj: dict[str, Any]) -> Ping:
    return Ping(id=_int(obj, "id", 0, 2**53), t=_float(obj, "t", optional=True))


def _decode_chat(obj: dict[str, Any]) -> Chat:
    text = _str(obj, "text", 1, TEXT_MAX)
    assert text is not None
    return Chat(text=text)


def _decode_talk(obj: dict[str, Any]) -> Talk:
    text = _str(obj, "text", 1, TEXT_MAX)
    assert text is not None
    return Talk(npc=_int(obj, "npc", 0, 65535), text=text)


def _decode_later_hello(obj: dict[str, Any]) -> Hello:
    # decode_client is for messages after the first; the first goes to decode_first.
    # A later hello, well-formed or not, is answered with ALREADY_WELCOMED and the
    # connection stays open (a malformed one must not close what a valid one would not).
    try:
        return decode_hello(obj)
    except ProtocolError as e:
        raise ProtocolError(
            f"already welcomed ({e.message})", error=ErrorCode.ALREADY_WELCOMED
        ) from None


def _decode_leave(obj: dict[str, Any]) -> Leave:
    return Leave()


def custom_type(v: object) -> str:
    """A valid custom message type, or `ProtocolError(BAD_FIELD)`."""
    if (
        not isinstance(v, str)
        or not CUSTOM_TYPE_MIN <= len(v) <= CUSTOM_TYPE_MAX
        or CUSTOM_TYPE.fullmatch(v) is None
    ):
        raise _bad(
            f"'type' must be {CUSTOM_TYPE_MIN} to {CUSTOM_TYPE_MAX} characters of "
            "[a-z0-9_] in at least two dot-separated parts (namespace.name)"
        )
    return v


def _decode_custom(obj: dict[str, Any]) -> Custom:
    kind = custom_type(obj.get("type"))
    data = obj.get("data", {})
    if not isinstance(data, dict):
        raise _bad("'data' must be a JSON object")
    return Custom(type=kind, data=data)


def _decode_who(obj: dict[str, Any]) -> Who:
    ids = obj.get("ids")
    if (
        not isinstance(ids, list)
        or not 1 <= len(ids) <= WHO_MAX
        or not all(type(i) is int and 0 <= i <= 65535 for i in ids)
    ):
        raise _bad(f"'ids' must be a list of 1 to {WHO_MAX} integers from 0 to 65535")
    return Who(ids=ids)


# --- factions and companions ---


def _faction_name(obj: dict[str, Any], *, optional: bool) -> str | None:
    v = obj.get("name")
    if v is None and optional:
        return None
    if not isinstance(v, str) or FACTION_NAME.fullmatch(v) is None:
        raise _bad("'name' must be 2 to 40 characters of [a-z0-9_]")
    return v


def _decode_faction(obj: dict[str, Any]) -> Faction:
    action = obj.get("action")
    if action not in FACTION_ACTIONS:
        raise _bad(f"'action' must be one of {', '.join(FACTION_ACTIONS)}")
    name = _faction_name(obj, optional=action not in ("create", "join"))
    display = _str(obj, "display_name", 1, DISPLAY_NAME_MAX, optional=True)
    player = _str(obj, "player", 1, PLAYER_ID_MAX, optional=action not in ("promote", "kick"))
    return Faction(action=action, name=name, display_name=display, player=player)


def _decode_companion(obj: dict[str, Any]) -> Companion:
    action = obj.get("action")
    if action not in COMPANION_ACTIONS:
        raise _bad(f"'action' must be one of {', '.join(COMPANION_ACTIONS)}")
    cid = _str(obj, "id", 1, COMPANION_ID_MAX, optional=True)
    name = _str(obj, "name", 1, NAME_MAX, optional=True)
    kind = obj.get("kind")
    if kind is not None and kind not in COMPANION_KINDS:
        raise _bad(f"'kind' must be one of {', '.join(COMPANION_KINDS)}")
    return Companion(action=action, id=cid, name=name, kind=kind)


def _decode_mission(obj: dict[str, Any]) -> Mission:
    action = obj.get("action")
    if action not in MISSION_ACTIONS:
        raise _bad(f"'action' must be one of {', '.join(MISSION_ACTIONS)}")
    mission_id = _str(obj, "id", 1, MISSION_ID_MAX, optional=action in ("request", "list"))
    npc = obj.get("npc")
    if action == "request" or npc is not None:
        npc = _int(obj, "npc", 0, 65535)
    theme = _str(obj, "theme", 1, MISSION_THEME_MAX, optional=True)
    return Mission(action=action, id=mission_id, npc=npc, theme=theme)


# One decoder per client op: adding a message is one entry here and one in the catalogue.
_CLIENT_DECODERS: dict[str, Callable[[dict[str, Any]], ClientMessage]] = {
    ClientOp.PING: _decode_ping,
    ClientOp.CHAT: _decode_chat,
    ClientOp.TALK: _decode_talk,
    ClientOp.HELLO: _decode_later_hello,
    ClientOp.LEAVE: _decode_leave,
    ClientOp.CUSTOM: _decode_custom,
    ClientOp.WHO: _decode_who,
    ClientOp.FACTION: _decode_faction,
    ClientOp.COMPANION: _decode_companion,
    ClientOp.MISSION: _decode_mission,
}


def decode_client(data: str | bytes) -> ClientMessage:
    """Text frame from a client -> message, or `ProtocolError` with the code to answer."""
    obj = _parse_object(data)
    op = obj.get("op")
    decoder = _CLIENT_DECODERS.get(op) if isinstance(op, str) else None
    if decoder is None:
        raise ProtocolError(f"unknown op {op!r}", error=ErrorCode.UNKNOWN_OP)
    return decoder(obj)


def decode_hello(obj: dict[str, Any]) -> Hello:
    """Validate a hello. Failures close the connection (BAD_HELLO / UNSUPPORTED_VERSION):
    a client that cannot say hello cannot do anything else.

    `v` is checked first: a hello from another protocol version may have other fields, and
    its client should learn that the version is the problem, not a field."""
    try:
        v = _int(obj, "v", 0, VERSION_MAX)
    except ProtocolError as e:
        raise ProtocolError(f"bad hello: {e.message}", close=CloseCode.BAD_HELLO) from None
    if v not in SUPPORTED_VERSIONS:
        supported = ",".join(str(x) for x in sorted(SUPPORTED_VERSIONS))
        raise ProtocolError(
            f"protocol version {v} not supported; supported: {supported}",
            close=CloseCode.UNSUPPORTED_VERSION,
        )
    try:
        name = _str(obj, "name", 1, NAME_MAX)
        token = _str(obj, "token", 1, TOKEN_MAX, optional=True)
        if token is not None and not (token.isascii() and token.isprintable() and " " not in token):
            raise _bad("'token' must be printable ASCII without spaces")
        resume = _str(obj, "resume", 1, RESUME_MAX, optional=True)
        spectate = obj.get("spectate")
        if spectate is not None and not isinstance(spectate, bool):
            raise _bad("'spectate' must be true or false")
    except ProtocolError as e:
        raise ProtocolError(f"bad hello: {e.message}", close=CloseCode.BAD_HELLO) from None
    assert name is not None
    return Hello(v=v, name=name, token=token, resume=resume, spectate=spectate or None)


def decode_first(data: str | bytes) -> Hello:
    """The first message of a connection must be a hello; anything else closes it."""
    try:
        obj = _parse_object(data)
    except ProtocolError as e:
        raise ProtocolError(f"bad hello: {e.message}", close=CloseCode.BAD_HELLO) from None
    if obj.get("op") != ClientOp.HELLO:
        raise ProtocolError("the first message must be a hello", close=CloseCode.BAD_HELLO)
    return decode_hello(obj)


def decode_server(data: str | bytes) -> ServerMessage:
    """Text frame from the server -> message (for clients). Unknown fields are ignored so
    servers can add fields without breaking old clients; unknown ops raise."""
    obj = _parse_object(data)
    op = obj.pop("op", None)
    cls = _SERVER_TYPES.get(op) if isinstance(op, str) else None
    if cls is None:
        raise ProtocolError(f"unknown op {op!r}", error=ErrorCode.UNKNOWN_OP)
    names = _SERVER_FIELDS[op]
    try:
        msg: ServerMessage = cls(**{k: v for k, v in obj.items() if k in names})
    except TypeError as e:
        raise _bad(f"{op}: {e}") from None
    return msg


__all__ = [
    "Chat",
    "ChatMessage",
    "ClientMessage",
    "Companion",
    "Correct",
    "Custom",
    "CustomMessage",
    "Error",
    "Faction",
    "GameEvent",
    "Hello",
    "Leave",
    "Mission",
    "NpcSay",
    "NpcSayPart",
    "Ping",
    "Pong",
    "Reconnect",
    "ServerMessage",
    "Talk",
    "Welcome",
    "Who",
    "WhoReply",
    "custom_type",
    "decode_client",
    "decode_first",
    "decode_server",
    "encode",
    "error",
]
