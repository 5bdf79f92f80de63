"""Client session state machine, sans-I/O: the client half of the protocol in one object.

Why sans-I/O: the Python SDK, the load tester and the tests all need the same bookkeeping
(what the client has seen, which STATE frame to acknowledge, how to turn quantised numbers
back into metres, where an NPC is now) and none of it depends on how bytes move. `Mirror`
takes frames in (str for JSON text frames, bytes for binary frames) and gives typed events
out, and builds every message a client sends. It never touches a socket, a clock or asyncio:
callers pass `now` where time matters, so tests can replay any sequence deterministically.

Semantics (protocol/SPEC.md is normative):
- A STATE frame applies LEAVE records, then ENTER, then PATH, then MOVE. An ENTER for a known
  id replaces the entity (events: left, then entered).
- FULL flag: forget every known entity, then apply the frame. The events of a FULL frame
  describe the difference to what the client knew before (left / entered / updated), then a
  `Snapshot` event, so a consumer that applies events to its own dict stays exact and a
  resync does not look like everything leaving and coming back.
- Messages of an op or binary frame type this client does not know are ignored (counted in
  `stats.ignored`): newer servers may send them without a version bump.
- Records about entities the client does not know (a MOVE or PATH for an unknown id, a LEAVE
  of an unknown id) are ignored and counted in `stats`: they are harmless and a strict
  client would only turn a server quirk into an outage.
- MOVE records are absolute; a MOVE for an NPC pins it there (speed 0) until its next PATH.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, ClassVar

from protocol.catalogue import (
    MISSION_ACTIONS,
    PROTOCOL_VERSION,
    CloseCode,
    EntityKind,
    ErrorCode,
    FrameType,
    ProtocolError,
    StateFlag,
)
from protocol.control import (
    MISSION_ID_MAX,
    MISSION_THEME_MAX,
    NAME_MAX,
    TEXT_MAX,
    WHO_MAX,
    Chat,
    ChatMessage,
    Correct,
    Custom,
    CustomMessage,
    Error,
    GameEvent,
    Hello,
    Leave,
    NpcSay,
    NpcSayPart,
    Ping,
    Pong,
    Reconnect,
    Welcome,
    Who,
    WhoReply,
    custom_type,
    decode_server,
    encode,
)
from protocol.control import Companion as CompanionMsg
from protocol.control import Faction as FactionMsg
from protocol.control import Mission as MissionMsg
from protocol.control import Talk as TalkMsg
from protocol.control import decode_client as _decode_client
from protocol.quant import WorldBounds, dequantise_heading, dequantise_position
from protocol.state import (
    InputFrame,
    NpcEnter,
    NpcPath,
    PlayerEnter,
    StateFrame,
    decode_state,
    encode_input,
)

# --- mirrored entities --------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Player:
    """A visible player. Quantised fields are what the wire said; floats are in metres/degrees.

    Immutable: every update makes a new object, so an event that carries a `Player` keeps
    describing the moment it was emitted even after later frames."""

    net_id: int
    name: str
    health: int
    qx: int
    qy: int
    qz: int
    qheading: int
    x: float
    y: float
    z: float
    heading: float

    kind: ClassVar[EntityKind] = EntityKind.PLAYER

    @property
    def position(self) -> tuple[float, float, float]:
        return (self.x, self.y, self.z)


@dataclass(frozen=True, slots=True)
class Npc:
    """A visible NPC: where its current straight walk started, where it goes, how fast.

    Its position is a function of the server tick (`Mirror.npc_position`), not a stored
    value: the server only sends a new path when the NPC reaches its waypoint."""

    net_id: int
    model: int
    path: NpcPath

    kind: ClassVar[EntityKind] = EntityKind.NPC

    def position_at(
        self, tick: float, tick_rate: int, bounds: WorldBounds
    ) -> tuple[float, float, float]:
        return self.path.position_at(tick, tick_rate, bounds)


Entity = Player | Npc


# --- events ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Welcomed:
    """The server accepted the hello. `resumed` tells whether it is the same player as before."""

    welcome: Welcome

    @property
    def resumed(self) -> bool:
        return self.welcome.resumed


@dataclass(frozen=True, slots=True)
class EntityEntered:
    entity: Entity


@dataclass(frozen=True, slots=True)
class EntityUpdated:
    """A player moved, or an NPC got a new path (or a FULL snapshot restated a known entity)."""

    entity: Entity
    previous: Entity


@dataclass(frozen=True, slots=True)
class EntityLeft:
    net_id: int
    entity: Entity


@dataclass(frozen=True, slots=True)
class Snapshot:
    """A FULL frame was applied: the mirror now holds exactly `count` entities."""

    seq: int
    tick: int
    server_time: float
    count: int


@dataclass(frozen=True, slots=True)
class StateReceived:
    """Every STATE frame, after it was applied: for latency and rate accounting."""

    seq: int
    tick: int
    server_time: float
    full: bool
    size: int
    received_at: float | None


@dataclass(frozen=True, slots=True)
class ChatReceived:
    from_id: int
    name: str
    text: str


@dataclass(frozen=True, slots=True)
class NpcSaid:
    """An NPC's whole reply (`npc_say`). After streamed parts of the same `reply_id`, `text`
    is the whole line; `replaced`: show `text` instead of what the parts said; `actions`:
    what the NPC did with it, checked and applied by the server (e.g. `follow_player`)."""

    npc: int
    to: int
    text: str
    reply_id: int | None = None
    replaced: bool = False
    actions: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class NpcSaidPart:
    """A streamed piece of an NPC's reply (`npc_say_part`): append `text` to what the parts
    of this `reply_id` said so far; an `NpcSaid` of the same id ends the reply."""

    npc: int
    to: int
    reply_id: int
    seq: int
    text: str


@dataclass(frozen=True, slots=True)
class GameEventReceived:
    """Something happened that concerns this player (`event`: money, faction, mission)."""

    type: str
    data: dict[str, Any]


@dataclass(frozen=True, slots=True)
class CustomReceived:
    """A game mode's own message (`custom`): `type` is namespaced, e.g. `taxi.fare`."""

    type: str
    data: dict[str, Any]


@dataclass(frozen=True, slots=True)
class ErrorReceived:
    """A non-fatal error: the connection stays open. `ref` is the input seq it is about."""

    code: int
    name: str
    message: str
    ref: int | None


@dataclass(frozen=True, slots=True)
class Corrected:
    """The server rejected a move: the client must continue from this position."""

    x: float
    y: float
    z: float
    heading: float
    ref: int


@dataclass(frozen=True, slots=True)
class ReconnectRequested:
    """Graceful drain: close 1012 follows; come back after `after_ms` with the token."""

    resume_token: str
    after_ms: int
    resume_window: float
    reason: str


@dataclass(frozen=True, slots=True)
class PongReceived:
    """Answer to `Mirror.ping`. `rtt` is set when both the ping's `t` and `received_at` were given."""

    id: int
    t: float | None
    server_time: float
    rtt: float | None


@dataclass(frozen=True, slots=True)
class WhoReceived:
    """Answer to `Mirror.who`: a dict per entity in view (`id`, `kind`, `name`, and for NPCs
    `role` and `faction`), as SPEC.md §4.3 describes."""

    entities: list[dict[str, object]]


@dataclass(frozen=True, slots=True)
class InvalidMessage:
    """The server sent something this client cannot decode. The mirror is unchanged."""

    reason: str
    size: int


Event = (
    Welcomed
    | EntityEntered
    | EntityUpdated
    | EntityLeft
    | Snapshot
    | StateReceived
    | ChatReceived
    | NpcSaid
    | NpcSaidPart
    | GameEventReceived
    | CustomReceived
    | ErrorReceived
    | Corrected
    | ReconnectRequested
    | PongReceived
    | WhoReceived
    | InvalidMessage
)


# --- close codes ----------------------------------------------------------------------------


class CloseAction(Enum):
    """What a client should do after the connection closed with a given code."""

    RESUME = "resume"  # reconnect with the resume token (drain, drop, transient failure)
    STOP = "stop"  # a normal end: do not reconnect, not an error
    FATAL = "fatal"  # the server refused us for a reason a retry cannot fix


FATAL_CLOSE_CODES = frozenset(
    {
        1002,  # PROTOCOL_ERROR: our WebSocket layer is broken; retrying would loop
        1007,  # invalid UTF-8 from us: a client bug
        CloseCode.UNSUPPORTED_VERSION,
        CloseCode.BAD_HELLO,
        CloseCode.AUTH_FAILED,
        CloseCode.SERVER_FULL,
        CloseCode.TOO_SLOW,
        CloseCode.FLOODING,
        CloseCode.TOO_MANY_ERRORS,
        CloseCode.REPLACED,
        CloseCode.KICKED,
    }
)
"""Close codes after which reconnecting would only repeat the refusal (or fight the session
that replaced us), so clients give up and report the code's name. SPEC.md section 13."""

RETRY_4XXX = frozenset({CloseCode.HANDSHAKE_TIMEOUT, CloseCode.RESUME_REFUSED})
"""Application codes worth a retry: we were too slow to say hello, or we resumed before the
server noticed our old connection was gone (SPEC.md section 3.3)."""


def close_action(code: int | None) -> CloseAction:
    """Policy for a close code; `None` means the TCP connection dropped without a close frame.

    Per SPEC.md section 13: 1000 ends the session; unknown 4xxx codes stop and report (a newer
    server refusing us for a reason we cannot know); other 1xxx codes reconnect with backoff."""
    if code is None:
        return CloseAction.RESUME
    if code in FATAL_CLOSE_CODES:
        return CloseAction.FATAL
    if code == CloseCode.NORMAL:
        return CloseAction.STOP
    if 4000 <= code <= 4999 and code not in RETRY_4XXX:
        return CloseAction.FATAL
    return CloseAction.RESUME


def close_code_name(code: int | None) -> str:
    """Human name of a close code: the catalogue's name, or the RFC 6455 one, or the number."""
    if code is None:
        return "CONNECTION_LOST"
    try:
        return CloseCode(code).name
    except ValueError:
        pass
    return {1001: "GOING_AWAY", 1005: "NO_STATUS", 1006: "ABNORMAL_CLOSURE"}.get(code, str(code))


# --- the state machine ------------------------------------------------------------------


@dataclass(slots=True)
class MirrorStats:
    """Counters a load tool or a curious developer wants; cheap integer bumps."""

    frames: int = 0
    full_frames: int = 0
    bytes: int = 0
    enters: int = 0
    leaves: int = 0
    paths: int = 0
    moves: int = 0
    unknown_records: int = 0
    ignored: int = 0  # messages of an op or binary type this client does not know
    invalid: int = 0
    errors: int = 0
    inputs_sent: int = 0


@dataclass(slots=True)
class Mirror:
    """One client's view of the world, across reconnects.

    Typical use: `send(mirror.hello())`, then for every frame received
    `for ev in mirror.receive(frame, now): ...`, and `send(mirror.input(x, y, z, h))`.
    Call `connection_lost()` when the socket goes away and `hello()` again on the next one:
    the mirror keeps the entities (stale until the next FULL frame) and the resume token.
    """

    name: str
    token: str | None = None
    resume_token: str | None = None
    welcome: Welcome | None = None
    bounds: WorldBounds | None = None
    entities: dict[int, Entity] = field(default_factory=dict)
    last_seq: int = 0
    last_tick: int = 0
    last_server_time: float = 0.0
    last_received_at: float | None = None
    input_seq: int = 0
    ping_seq: int = 0
    stats: MirrorStats = field(default_factory=MirrorStats)
    local: tuple[float, float, float, float] | None = None
    """Position and heading this client last sent (or was corrected to)."""

    def __post_init__(self) -> None:
        _check_text("name", self.name, NAME_MAX)

    # --- identity -------------------------------------------------------------------------

    @property
    def net_id(self) -> int | None:
        return self.welcome.net_id if self.welcome is not None else None

    @property
    def player_id(self) -> str | None:
        return self.welcome.player_id if self.welcome is not None else None

    @property
    def me(self) -> Player | None:
        """This client's own entity as the server last echoed it, if visible."""
        if self.welcome is None:
            return None
        e = self.entities.get(self.welcome.net_id)
        return e if isinstance(e, Player) else None

    @property
    def welcomed(self) -> bool:
        return self.welcome is not None

    # --- outgoing ---------------------------------------------------------------------------

    def hello(self, *, resume: bool = True) -> bytes:
        """Hello for a new connection. Resets the per-connection sequence numbers (STATE seq
        starts at 1 on every connection) and carries the resume token when there is one."""
        self.last_seq = 0
        self.input_seq = 0
        token = self.resume_token if resume else None
        return encode(Hello(v=PROTOCOL_VERSION, name=self.name, token=self.token, resume=token))

    def input(self, x: float, y: float, z: float, heading: float) -> bytes:
        """INPUT frame for the client's position now, acknowledging the last STATE seq."""
        if not (math.isfinite(x) and math.isfinite(y) and math.isfinite(z)):
            raise ValueError("position must be finite")
        if not math.isfinite(heading):
            raise ValueError("heading must be finite")
        self.input_seq += 1
        self.stats.inputs_sent += 1
        self.local = (x, y, z, heading)
        return encode_input(InputFrame(self.input_seq, self.last_seq, x, y, z, heading))

    def ping(self, t: float | None = None) -> tuple[int, bytes]:
        """(id, bytes) of a ping; pass a local clock reading as `t` to get `rtt` in the pong."""
        self.ping_seq += 1
        return self.ping_seq, encode(Ping(id=self.ping_seq, t=t))

    def chat(self, text: str) -> bytes:
        _check_text("text", text, TEXT_MAX)
        return encode(Chat(text=text))

    def talk(self, npc: int, text: str) -> bytes:
        if not 0 <= npc <= 0xFFFF:
            raise ValueError("npc must be a net id (0..65535)")
        _check_text("text", text, TEXT_MAX)
        return encode(TalkMsg(npc=npc, text=text))

    def custom(self, type_: str, data: dict[str, Any] | None = None) -> bytes:
        """A game mode's message; `type_` is namespaced (`taxi.start`), `data` a JSON object."""
        try:
            custom_type(type_)
        except ProtocolError as e:
            raise ValueError(e.message) from None
        if data is not None and not isinstance(data, dict):
            raise ValueError("data must be a dict (a JSON object)")
        return encode(Custom(type=type_, data=data or {}))

    def who(self, ids: list[int]) -> bytes:
        """Ask for the names (and NPCs' roles and factions) of entities in view."""
        if not 1 <= len(ids) <= WHO_MAX or not all(0 <= i <= 0xFFFF for i in ids):
            raise ValueError(f"ids must be 1..{WHO_MAX} net ids (0..65535)")
        return encode(Who(ids=list(ids)))

    # --- factions and companions ---

    def faction(
        self,
        action: str,
        *,
        name: str | None = None,
        display_name: str | None = None,
        player: str | None = None,
    ) -> bytes:
        """A `faction` request (SPEC §4.2): create / join (`name`), leave, promote / kick
        (`player`, a player id), info (`name`, default your own faction)."""
        return _checked(FactionMsg(action, name, display_name, player))

    def companion(
        self,
        action: str,
        *,
        companion_id: str | None = None,
        name: str | None = None,
        kind: str | None = None,
    ) -> bytes:
        """A `companion` request (SPEC §4.2): summon, dismiss, recall, info."""
        return _checked(CompanionMsg(action, companion_id, name, kind))

    def mission(
        self,
        action: str,
        mission_id: str | None = None,
        *,
        npc: int | None = None,
        theme: str | None = None,
    ) -> bytes:
        """A `mission` request: request (from NPC `npc`), accept / abandon / complete
        (`mission_id`), list."""
        if action not in MISSION_ACTIONS:
            raise ValueError(f"action must be one of {', '.join(MISSION_ACTIONS)}")
        if action in ("accept", "abandon", "complete") and mission_id is None:
            raise ValueError(f"{action} needs a mission id")
        if mission_id is not None:
            _check_text("id", mission_id, MISSION_ID_MAX)
        if action == "request" and npc is None:
            raise ValueError("request needs the net id of the NPC to ask")
        if npc is not None and not 0 <= npc <= 0xFFFF:
            raise ValueError("npc must be a net id (0..65535)")
        if theme is not None:
            _check_text("theme", theme, MISSION_THEME_MAX)
        return encode(MissionMsg(action=action, id=mission_id, npc=npc, theme=theme))

    def leave(self) -> bytes:
        """Quit for good; forget the resume token since the server will not keep the player."""
        self.resume_token = None
        return encode(Leave())

    # --- incoming -------------------------------------------------------------------------

    def connection_lost(self) -> None:
        """The socket is gone. Entities stay (stale) until the next FULL frame replaces them."""
        self.last_seq = 0

    def receive(self, data: str | bytes, now: float | None = None) -> list[Event]:
        """Apply one frame and return what happened. Never raises for bad server data:
        an undecodable frame gives `InvalidMessage` and leaves the mirror unchanged."""
        if isinstance(data, str):
            return self._receive_text(data, now)
        return self._receive_state(data, now)

    def _receive_text(self, data: str, now: float | None) -> list[Event]:
        try:
            msg = decode_server(data)
        except ProtocolError as e:
            if e.error is ErrorCode.UNKNOWN_OP:  # a newer server's message: ignore it
                self.stats.ignored += 1
                return []
            self.stats.invalid += 1
            return [InvalidMessage(e.message, len(data))]
        if isinstance(msg, Welcome):
            try:
                bounds = msg.bounds
            except (KeyError, TypeError, ValueError) as e:
                self.stats.invalid += 1
                return [InvalidMessage(f"welcome.world: {e!r}", len(data))]
            self.welcome = msg
            self.bounds = bounds
            self.resume_token = msg.resume_token
            self.last_tick = msg.tick
            self.last_server_time = msg.server_time
            self.last_received_at = now
            self.local = (msg.x, msg.y, msg.z, msg.heading)
            return [Welcomed(msg)]
        if isinstance(msg, Pong):
            rtt = now - msg.t if now is not None and msg.t is not None else None
            return [PongReceived(msg.id, msg.t, msg.server_time, rtt)]
        if isinstance(msg, ChatMessage):
            return [ChatReceived(msg.from_id, msg.name, msg.text)]
        if isinstance(msg, NpcSay):
            acts = msg.actions if isinstance(msg.actions, list) else []
            return [
                NpcSaid(
                    msg.npc,
                    msg.to,
                    msg.text,
                    msg.reply_id,
                    msg.replaced is True,
                    tuple(a for a in acts if isinstance(a, str)),
                )
            ]
        if isinstance(msg, NpcSayPart):
            return [NpcSaidPart(msg.npc, msg.to, msg.reply_id, msg.seq, msg.text)]
        if isinstance(msg, CustomMessage):
            if not isinstance(msg.data, dict) or not isinstance(msg.type, str):
                self.stats.invalid += 1
                return [InvalidMessage("custom: type must be a string, data an object", len(data))]
            return [CustomReceived(msg.type, msg.data)]
        if isinstance(msg, GameEvent):
            if not isinstance(msg.data, dict) or not isinstance(msg.type, str):
                self.stats.invalid += 1
                return [InvalidMessage("event: type must be a string, data an object", len(data))]
            return [GameEventReceived(msg.type, msg.data)]
        if isinstance(msg, Error):
            self.stats.errors += 1
            return [ErrorReceived(msg.code, msg.name, msg.message, msg.ref)]
        if isinstance(msg, WhoReply):
            ents = msg.entities
            if not isinstance(ents, list) or not all(isinstance(e, dict) for e in ents):
                self.stats.invalid += 1
                return [InvalidMessage("who.entities must be a list of objects", len(data))]
            return [WhoReceived(ents)]
        if isinstance(msg, Correct):
            self.local = (msg.x, msg.y, msg.z, msg.heading)
            return [Corrected(msg.x, msg.y, msg.z, msg.heading, msg.ref)]
        assert isinstance(msg, Reconnect)
        self.resume_token = msg.resume_token
        return [ReconnectRequested(msg.resume_token, msg.after_ms, msg.resume_window, msg.reason)]

    def _receive_state(self, data: bytes, now: float | None) -> list[Event]:
        if data and data[0] != FrameType.STATE:  # a newer server's frame type: ignore it
            self.stats.ignored += 1
            return []
        if self.bounds is None:
            self.stats.invalid += 1
            return [InvalidMessage("STATE frame before welcome", len(data))]
        try:
            frame = decode_state(data)
        except ProtocolError as e:
            self.stats.invalid += 1
            return [InvalidMessage(e.message, len(data))]
        events = self.apply(frame)
        st = self.stats
        st.frames += 1
        st.bytes += len(data)
        self.last_received_at = now
        events.append(
            StateReceived(frame.seq, frame.tick, frame.server_time, frame.full, len(data), now)
        )
        return events

    def apply(self, frame: StateFrame) -> list[Event]:
        """Apply an already-decoded STATE frame (LEAVE, ENTER, PATH, MOVE) and return events."""
        bounds = self.bounds
        if bounds is None:
            raise ProtocolError("STATE frame before welcome", close=CloseCode.PROTOCOL_ERROR)
        st = self.stats
        events: list[Event] = []
        ents = self.entities
        full = bool(frame.flags & StateFlag.FULL)
        before: dict[int, Entity] = {}
        if full:
            st.full_frames += 1
            before = ents
            ents = self.entities = {}
        else:
            for nid in frame.leaves:
                gone = ents.pop(nid, None)
                st.leaves += 1
                if gone is None:
                    st.unknown_records += 1
                else:
                    events.append(EntityLeft(nid, gone))
        pending: list[int] = []  # ids entered by this frame, in order (for FULL's events)
        for e in frame.enters:
            st.enters += 1
            new: Entity
            if isinstance(e, PlayerEnter):
                new = _player(bounds, e.id, e.name, e.health, e.qx, e.qy, e.qz, e.heading)
            elif isinstance(e, NpcEnter):
                new = Npc(e.id, e.model, e.path)
            else:
                st.unknown_records += 1
                continue
            prev = ents.get(e.id)
            ents[e.id] = new
            if full:
                pending.append(e.id)
            else:  # an ENTER for a known id replaces it: a leave, then an enter (SPEC 5.3)
                if prev is not None:
                    events.append(EntityLeft(e.id, prev))
                events.append(EntityEntered(new))
        for nid, path in frame.paths:
            st.paths += 1
            old = ents.get(nid)
            if not isinstance(old, Npc):
                st.unknown_records += 1
                continue
            upd = Npc(nid, old.model, path)
            ents[nid] = upd
            if not full:
                events.append(EntityUpdated(upd, old))
        for m in frame.moves:
            st.moves += 1
            old = ents.get(m.id)
            if old is None:
                st.unknown_records += 1
                continue
            upd2: Entity
            if isinstance(old, Player):
                if (old.qx, old.qy, old.qz, old.qheading) == (m.qx, m.qy, m.qz, m.heading):
                    continue
                upd2 = _player(bounds, m.id, old.name, old.health, m.qx, m.qy, m.qz, m.heading)
            else:
                upd2 = Npc(m.id, old.model, NpcPath(m.qx, m.qy, m.qz, m.qx, m.qy, 0, frame.tick))
            ents[m.id] = upd2
            if not full:
                events.append(EntityUpdated(upd2, old))
        if full:
            for nid, gone in before.items():
                if nid not in ents:
                    events.append(EntityLeft(nid, gone))
            seen: set[int] = set()
            for nid in pending:
                if nid in seen or nid not in ents:
                    continue
                seen.add(nid)
                _entered(events, ents[nid], before.get(nid))
            events.append(Snapshot(frame.seq, frame.tick, frame.server_time, len(ents)))
        self.last_seq = frame.seq
        self.last_tick = frame.tick
        self.last_server_time = frame.server_time
        return events

    # --- derived views ----------------------------------------------------------------------

    def estimate_tick(self, now: float) -> float:
        """Server tick now, extrapolated from the last frame's tick and the local time it
        arrived (so clock skew between machines does not matter; one-way latency does)."""
        if self.welcome is None:
            return 0.0
        if self.last_received_at is None:
            return float(self.last_tick)
        return self.last_tick + max(0.0, now - self.last_received_at) * self.welcome.tick_rate

    def npc_position(self, npc: Npc, tick: float | None = None) -> tuple[float, float, float]:
        """Where an NPC is at `tick` (default: the last frame's tick)."""
        if self.welcome is None or self.bounds is None:
            raise RuntimeError("no welcome yet")
        t = self.last_tick if tick is None else tick
        return npc.path.position_at(t, self.welcome.tick_rate, self.bounds)

    def position_of(self, entity: Entity, tick: float | None = None) -> tuple[float, float, float]:
        """Position of any entity: a player's last echoed one, an NPC's extrapolated one."""
        if isinstance(entity, Player):
            return entity.position
        return self.npc_position(entity, tick)

    def players(self) -> list[Player]:
        return [e for e in self.entities.values() if isinstance(e, Player)]

    def npcs(self) -> list[Npc]:
        return [e for e in self.entities.values() if isinstance(e, Npc)]


def _entered(events: list[Event], new: Entity, prev: Entity | None) -> None:
    """Events for an ENTER of `new` where `prev` was known under the same id (FULL frames
    restate known entities): a new entity, an update of the same kind, or a replacement."""
    if prev is None:
        events.append(EntityEntered(new))
    elif type(prev) is not type(new):
        events.append(EntityLeft(new.net_id, prev))
        events.append(EntityEntered(new))
    elif prev != new:
        events.append(EntityUpdated(new, prev))


def _player(
    b: WorldBounds, nid: int, name: str, health: int, qx: int, qy: int, qz: int, qh: int
) -> Player:
    x, y, z = dequantise_position(b, qx, qy, qz)
    return Player(nid, name, health, qx, qy, qz, qh, x, y, z, dequantise_heading(qh))


def _checked(msg: FactionMsg | CompanionMsg) -> bytes:
    """Encode `msg` after running the server's own decoder on it: the SDK refuses locally
    (ValueError) exactly what the server would answer with BAD_FIELD."""
    data = encode(msg)
    try:
        _decode_client(data)
    except ProtocolError as e:
        raise ValueError(e.message) from None
    return data


def _check_text(what: str, text: str, limit: int) -> None:
    """Refuse locally what the server would refuse, so a typo costs an exception, not an
    error round trip (or, for the name, a closed connection)."""
    if not 1 <= len(text) <= limit:
        raise ValueError(f"{what} must be 1 to {limit} characters")
    if any(c < " " for c in text):
        raise ValueError(f"{what} must not contain control characters")


__all__ = [
    "FATAL_CLOSE_CODES",
    "ChatReceived",
    "CloseAction",
    "Corrected",
    "Entity",
    "EntityEntered",
    "EntityLeft",
    "EntityUpdated",
    "ErrorReceived",
    "Event",
    "InvalidMessage",
    "Mirror",
    "MirrorStats",
    "Npc",
    "NpcSaid",
    "NpcSaidPart",
    "Player",
    "PongReceived",
    "ReconnectRequested",
    "Snapshot",
    "StateReceived",
    "Welcomed",
    "WhoReceived",
    "close_action",
    "close_code_name",
]
