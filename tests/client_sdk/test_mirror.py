"""protocol.mirror: the sans-I/O client session, fed synthetic frames from the real encoders."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from protocol.catalogue import PROTOCOL_VERSION, CloseCode, EntityKind, StateFlag
from protocol.control import (
    ChatMessage,
    Correct,
    Hello,
    NpcSay,
    Pong,
    Reconnect,
    Welcome,
    decode_client,
    encode,
)
from protocol.control import Error as ErrorMsg
from protocol.mirror import (
    FATAL_CLOSE_CODES,
    ChatReceived,
    CloseAction,
    Corrected,
    EntityEntered,
    EntityLeft,
    EntityUpdated,
    ErrorReceived,
    Event,
    InvalidMessage,
    Mirror,
    Npc,
    NpcSaid,
    Player,
    PongReceived,
    ReconnectRequested,
    Snapshot,
    StateReceived,
    Welcomed,
    close_action,
    close_code_name,
)
from protocol.quant import WorldBounds, quantise_heading, quantise_position
from protocol.state import (
    Move,
    NpcEnter,
    NpcPath,
    PlayerEnter,
    StateFrame,
    UnknownEnter,
    decode_input,
    encode_state,
)

WORLD = {"min_x": -4000.0, "min_y": -4000.0, "min_z": -200.0}
WORLD |= {"max_x": 4000.0, "max_y": 4000.0, "max_z": 1800.0}
BOUNDS = WorldBounds.from_dict(WORLD)
ME = 7


def welcome_text(net_id: int = ME, resumed: bool = False, token: str = "resume-1") -> str:
    w = Welcome(
        v=PROTOCOL_VERSION,
        player_id="00000000-0000-4000-8000-000000000001",
        net_id=net_id,
        name="alice",
        server_name="test",
        tick_rate=60,
        send_rate=30,
        tick=1000,
        server_time=1_700_000_000.0,
        world=dict(WORLD),
        aoi_radius=300.0,
        aoi_cell_size=50.0,
        resume_token=token,
        resume_window=60.0,
        max_message_size=4096,
        input_rate_limit=60,
        resumed=resumed,
        x=10.0,
        y=20.0,
        z=30.0,
        heading=90.0,
    )
    return encode(w).decode()


def welcomed(name: str = "alice") -> Mirror:
    m = Mirror(name=name)
    evs = m.receive(welcome_text(), now=100.0)
    assert isinstance(evs[0], Welcomed)
    return m


def frame(
    seq: int,
    *,
    tick: int = 1000,
    full: bool = False,
    leaves: list[int] | None = None,
    enters: list[Any] | None = None,
    paths: list[tuple[int, NpcPath]] | None = None,
    moves: list[Move] | None = None,
    t: float = 1_700_000_000.0,
) -> bytes:
    return encode_state(
        StateFrame(
            seq=seq,
            tick=tick,
            server_time=t,
            flags=StateFlag.FULL if full else StateFlag.NONE,
            leaves=leaves or [],
            enters=enters or [],
            paths=paths or [],
            moves=moves or [],
        )
    )


def pe(
    nid: int, x: float, y: float, z: float = 0.0, h: float = 0.0, name: str = "p"
) -> PlayerEnter:
    qx, qy, qz = quantise_position(BOUNDS, x, y, z)
    return PlayerEnter(nid, qx, qy, qz, quantise_heading(h), 100, name)


def path(x: float, y: float, wx: float, wy: float, speed: int = 20, start: int = 1000) -> NpcPath:
    qx, qy, qz = quantise_position(BOUNDS, x, y, 0.0)
    qwx, qwy, _ = quantise_position(BOUNDS, wx, wy, 0.0)
    return NpcPath(qx, qy, qz, qwx, qwy, speed, start)


def mv(nid: int, x: float, y: float, z: float = 0.0, h: float = 0.0) -> Move:
    qx, qy, qz = quantise_position(BOUNDS, x, y, z)
    return Move(nid, qx, qy, qz, quantise_heading(h))


def kinds(evs: list[Event]) -> list[str]:
    return [type(e).__name__ for e in evs]


# --- outgoing ---------------------------------------------------------------------------


def test_hello_carries_version_name_token_and_no_resume_at_first() -> None:
    m = Mirror(name="bob", token="jwt.x.y")
    obj = orjson.loads(m.hello())
    assert obj == {"op": "hello", "v": PROTOCOL_VERSION, "name": "bob", "token": "jwt.x.y"}
    hello = decode_client(m.hello())
    assert isinstance(hello, Hello) and hello.name == "bob"


def test_hello_after_welcome_resumes_with_the_token() -> None:
    m = welcomed()
    obj = orjson.loads(m.hello())
    assert obj["resume"] == "resume-1"
    assert "resume" not in orjson.loads(m.hello(resume=False))


@pytest.mark.parametrize("name", ["", "x" * 33, "tab\tname"])
def test_bad_names_are_refused_locally(name: str) -> None:
    with pytest.raises(ValueError):
        Mirror(name=name)


def test_input_counts_seq_and_acks_last_state_seq() -> None:
    m = welcomed()
    first = decode_input(m.input(1.0, 2.0, 3.0, 45.0))
    assert (first.seq, first.ack) == (1, 0)
    m.receive(frame(1, full=True))
    m.receive(frame(2))
    second = decode_input(m.input(4.0, 5.0, 6.0, 90.0))
    assert (second.seq, second.ack, second.x, second.y, second.z, second.heading) == (
        2,
        2,
        4.0,
        5.0,
        6.0,
        90.0,
    )
    assert m.local == (4.0, 5.0, 6.0, 90.0)
    assert m.stats.inputs_sent == 2


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_input_refuses_non_finite(bad: float) -> None:
    m = welcomed()
    with pytest.raises(ValueError):
        m.input(bad, 0.0, 0.0, 0.0)
    with pytest.raises(ValueError):
        m.input(0.0, 0.0, 0.0, bad)
    assert m.input_seq == 0


def test_new_connection_resets_sequences() -> None:
    m = welcomed()
    m.receive(frame(5, full=True))
    m.input(0.0, 0.0, 0.0, 0.0)
    m.connection_lost()
    assert m.last_seq == 0
    m.hello()
    assert decode_input(m.input(0.0, 0.0, 0.0, 0.0)).seq == 1


def test_chat_talk_ping_leave_encode_valid_client_messages() -> None:
    m = welcomed()
    assert decode_client(m.chat("hi")).text == "hi"  # type: ignore[union-attr]
    talk = decode_client(m.talk(12, "hello npc"))
    assert (talk.npc, talk.text) == (12, "hello npc")  # type: ignore[union-attr]
    pid, raw = m.ping(5.0)
    ping = decode_client(raw)
    assert (ping.id, ping.t) == (pid, 5.0)  # type: ignore[union-attr]
    assert m.ping()[0] == pid + 1
    assert orjson.loads(m.leave()) == {"op": "leave"}
    assert m.resume_token is None
    with pytest.raises(ValueError):
        m.chat("")
    with pytest.raises(ValueError):
        m.chat("x" * 257)
    with pytest.raises(ValueError):
        m.talk(70000, "x")


# --- control messages -------------------------------------------------------------------


def test_welcome_sets_identity_bounds_and_tick() -> None:
    m = Mirror(name="alice")
    assert m.net_id is None and m.player_id is None and m.me is None and not m.welcomed
    (ev,) = m.receive(welcome_text(resumed=True), now=1.0)
    assert isinstance(ev, Welcomed) and ev.resumed
    assert m.net_id == ME
    assert m.player_id == "00000000-0000-4000-8000-000000000001"
    assert m.bounds == BOUNDS
    assert m.resume_token == "resume-1"
    assert m.last_tick == 1000
    assert m.local == (10.0, 20.0, 30.0, 90.0)


def test_server_messages_become_events() -> None:
    m = welcomed()
    (pong,) = m.receive(encode(Pong(id=3, server_time=5.0, t=1.5)).decode(), now=1.75)
    assert isinstance(pong, PongReceived) and pong.id == 3 and pong.rtt == pytest.approx(0.25)
    (pong2,) = m.receive(encode(Pong(id=4, server_time=5.0)).decode(), now=2.0)
    assert isinstance(pong2, PongReceived) and pong2.rtt is None
    (chat,) = m.receive(encode(ChatMessage(from_id=9, name="bob", text="yo")).decode())
    assert chat == ChatReceived(9, "bob", "yo")
    (say,) = m.receive(encode(NpcSay(npc=300, to=ME, text="hello")).decode())
    assert say == NpcSaid(300, ME, "hello")
    # The actions an NPC took with its reply (SPEC §4.3); a name that is not a string is
    # dropped, never raised on.
    said = {"op": "npc_say", "npc": 300, "to": ME, "text": "ok", "reply_id": 2}
    (acted,) = m.receive(orjson.dumps({**said, "actions": ["follow_player", 7, "flee"]}).decode())
    assert acted == NpcSaid(300, ME, "ok", 2, False, ("follow_player", "flee"))
    (odd,) = m.receive(orjson.dumps({**said, "actions": "follow_player"}).decode())
    assert odd == NpcSaid(300, ME, "ok", 2)
    (err,) = m.receive(
        encode(ErrorMsg(code=6, name="IMPOSSIBLE_MOVE", message="too fast", ref=4)).decode()
    )
    assert err == ErrorReceived(6, "IMPOSSIBLE_MOVE", "too fast", 4)
    assert m.stats.errors == 1
    (cor,) = m.receive(encode(Correct(x=1.0, y=2.0, z=3.0, heading=4.0, ref=4)).decode())
    assert cor == Corrected(1.0, 2.0, 3.0, 4.0, 4)
    assert m.local == (1.0, 2.0, 3.0, 4.0)
    (rc,) = m.receive(
        encode(
            Reconnect(resume_token="r2", after_ms=250, resume_window=60.0, reason="drain")
        ).decode()
    )
    assert rc == ReconnectRequested("r2", 250, 60.0, "drain")
    assert m.resume_token == "r2"


@pytest.mark.parametrize(
    "text", ["not json", "[1,2]", '{"op":"pong"}', '{"op":"welcome","v":1}', '{"op":"chat"}']
)
def test_undecodable_text_is_an_invalid_message_not_an_exception(text: str) -> None:
    m = welcomed()
    (ev,) = m.receive(text)
    assert isinstance(ev, InvalidMessage)
    assert m.stats.invalid == 1


def test_unknown_ops_and_binary_types_are_ignored_for_forward_compatibility() -> None:
    m = welcomed()
    assert m.receive('{"op":"teleport","x":1}') == []
    assert m.receive(b"\x7f\x00\x01") == []
    assert m.stats.ignored == 2 and m.stats.invalid == 0
    (ev,) = m.receive(b"")
    assert isinstance(ev, InvalidMessage)


def test_enter_for_a_known_id_is_a_leave_then_an_enter() -> None:
    m = welcomed()
    m.receive(frame(1, full=True, enters=[pe(1, 0, 0, name="old")]))
    evs = m.receive(frame(2, enters=[pe(1, 5, 5, name="new")]))
    assert kinds(evs) == ["EntityLeft", "EntityEntered", "StateReceived"]
    left, entered = evs[0], evs[1]
    assert isinstance(left, EntityLeft) and isinstance(left.entity, Player)
    assert left.entity.name == "old"
    assert isinstance(entered, EntityEntered) and isinstance(entered.entity, Player)
    assert entered.entity.name == "new"


def test_unknown_fields_are_ignored_for_forward_compatibility() -> None:
    m = welcomed()
    (ev,) = m.receive('{"op":"chat","from_id":1,"name":"a","text":"b","colour":"red"}')
    assert ev == ChatReceived(1, "a", "b")


# --- STATE frames -----------------------------------------------------------------------


def test_state_before_welcome_is_invalid() -> None:
    m = Mirror(name="x")
    (ev,) = m.receive(frame(1, full=True, enters=[pe(1, 0, 0)]))
    assert isinstance(ev, InvalidMessage)
    assert m.entities == {}


def test_player_enter_is_dequantised_within_one_step() -> None:
    m = welcomed()
    evs = m.receive(frame(1, full=True, enters=[pe(ME, 123.4, -56.7, 8.9, 200.0, "alice")]), 2.0)
    assert kinds(evs) == ["EntityEntered", "Snapshot", "StateReceived"]
    me = m.me
    assert me is not None and me.name == "alice" and me.health == 100
    sx, sy, sz = BOUNDS.step
    assert abs(me.x - 123.4) <= sx / 2 + 1e-9
    assert abs(me.y + 56.7) <= sy / 2 + 1e-9
    assert abs(me.z - 8.9) <= sz / 2 + 1e-9
    assert abs(me.heading - 200.0) <= 360 / 512 + 1e-9
    assert me.kind is EntityKind.PLAYER
    last = evs[-1]
    assert isinstance(last, StateReceived) and last.full and last.received_at == 2.0
    assert m.last_seq == 1 and m.stats.frames == 1 and m.stats.full_frames == 1


def test_npc_enter_extrapolates_along_its_path() -> None:
    m = welcomed()
    p = path(0.0, 0.0, 100.0, 0.0, speed=20, start=1000)
    m.receive(frame(1, full=True, enters=[NpcEnter(50, 3, p)]))
    npc = m.entities[50]
    assert isinstance(npc, Npc) and npc.model == 3 and npc.kind is EntityKind.NPC
    x0, _, _ = m.npc_position(npc, 1000)
    x1, _, _ = m.npc_position(npc, 1060)  # one second at 2 m/s
    assert x1 - x0 == pytest.approx(2.0, abs=0.01)
    xe, _, _ = m.npc_position(npc, 1000 + 60 * 1000)  # long after: at the waypoint
    assert xe == pytest.approx(100.0, abs=0.2)
    assert m.position_of(npc, 1060) == p.position_at(1060, 60, BOUNDS)
    assert m.npc_position(npc) == p.position_at(m.last_tick, 60, BOUNDS)
    assert npc.position_at(1060, 60, BOUNDS) == p.position_at(1060, 60, BOUNDS)
    assert m.npcs() == [npc] and m.players() == []


def test_moves_update_players_and_identical_moves_are_silent() -> None:
    m = welcomed()
    m.receive(frame(1, full=True, enters=[pe(1, 0.0, 0.0)]))
    evs = m.receive(frame(2, moves=[mv(1, 5.0, 0.0)]))
    assert kinds(evs) == ["EntityUpdated", "StateReceived"]
    up = evs[0]
    assert isinstance(up, EntityUpdated)
    assert isinstance(up.entity, Player) and up.entity.x == pytest.approx(5.0, abs=0.1)
    assert isinstance(up.previous, Player) and up.previous.x == pytest.approx(0.0, abs=0.1)
    assert kinds(m.receive(frame(3, moves=[mv(1, 5.0, 0.0)]))) == ["StateReceived"]
    assert m.stats.moves == 2


def test_leave_forgets_and_unknown_records_are_counted_not_fatal() -> None:
    m = welcomed()
    m.receive(frame(1, full=True, enters=[pe(1, 0, 0), NpcEnter(2, 1, path(0, 0, 1, 1))]))
    evs = m.receive(frame(2, leaves=[1, 99], moves=[mv(98, 1, 1)], paths=[(97, path(0, 0, 1, 1))]))
    assert kinds(evs) == ["EntityLeft", "StateReceived"]
    left = evs[0]
    assert isinstance(left, EntityLeft) and left.net_id == 1 and isinstance(left.entity, Player)
    assert set(m.entities) == {2}
    assert m.stats.unknown_records == 3


def test_path_updates_npcs_only() -> None:
    m = welcomed()
    m.receive(frame(1, full=True, enters=[pe(1, 0, 0), NpcEnter(2, 1, path(0, 0, 10, 0))]))
    newp = path(10, 0, 10, 50, start=2000)
    evs = m.receive(frame(2, paths=[(2, newp), (1, newp)]))
    assert kinds(evs) == ["EntityUpdated", "StateReceived"]
    npc = m.entities[2]
    assert isinstance(npc, Npc) and npc.path == newp
    assert isinstance(m.entities[1], Player)
    assert m.stats.unknown_records == 1


def test_move_for_an_npc_pins_it_until_next_path() -> None:
    m = welcomed()
    m.receive(frame(1, full=True, enters=[NpcEnter(2, 1, path(0, 0, 100, 0))]))
    m.receive(frame(2, tick=1500, moves=[mv(2, 30.0, 40.0)]))
    npc = m.entities[2]
    assert isinstance(npc, Npc) and npc.path.speed == 0
    assert m.npc_position(npc, 99999)[:2] == pytest.approx((30.0, 40.0), abs=0.2)


def test_full_frame_reports_the_difference_then_a_snapshot() -> None:
    m = welcomed()
    m.receive(frame(1, full=True, enters=[pe(1, 0, 0), pe(2, 0, 0), pe(3, 0, 0)]))
    evs = m.receive(
        frame(
            2,
            full=True,
            leaves=[1],  # ignored in a FULL frame: everything is forgotten anyway
            enters=[
                pe(2, 0, 0),
                pe(3, 9, 9),
                NpcEnter(4, 1, path(0, 0, 1, 1)),
                NpcEnter(1, 2, path(0, 0, 5, 5)),
            ],
        )
    )
    # 2 is restated unchanged (no event), 3 moved, 4 is new, 1 was a player and is now an NPC
    assert kinds(evs) == [
        "EntityUpdated",
        "EntityEntered",
        "EntityLeft",
        "EntityEntered",
        "Snapshot",
        "StateReceived",
    ]
    snap = next(e for e in evs if isinstance(e, Snapshot))
    assert snap.count == 4 and snap.seq == 2
    assert set(m.entities) == {1, 2, 3, 4}
    evs = m.receive(frame(3, full=True, enters=[pe(2, 0, 0)]))
    assert sorted(e.net_id for e in evs if isinstance(e, EntityLeft)) == [1, 3, 4]
    assert set(m.entities) == {2}


def test_unknown_enter_kinds_are_skipped() -> None:
    m = welcomed()
    evs = m.receive(frame(1, full=True, enters=[UnknownEnter(5, 99, b"abc"), pe(6, 0, 0)]))
    assert set(m.entities) == {6}
    assert kinds(evs) == ["EntityEntered", "Snapshot", "StateReceived"]
    assert m.stats.unknown_records == 1


@pytest.mark.parametrize("cut", [1, 10, 19, 21, 25, 30])
def test_truncated_frames_leave_the_mirror_unchanged(cut: int) -> None:
    m = welcomed()
    m.receive(frame(1, full=True, enters=[pe(1, 0, 0)]))
    before = dict(m.entities)
    data = frame(2, leaves=[1], enters=[pe(2, 5, 5, name="bob")], moves=[mv(1, 3, 3)])
    (ev,) = m.receive(data[:cut])
    assert isinstance(ev, InvalidMessage)
    assert m.entities == before and m.last_seq == 1


def test_estimate_tick_uses_local_receive_time() -> None:
    m = Mirror(name="x")
    assert m.estimate_tick(5.0) == 0.0
    m.receive(welcome_text(), now=None)
    assert m.estimate_tick(5.0) == 1000.0
    m.receive(frame(1, tick=1200, full=True), now=10.0)
    assert m.estimate_tick(10.5) == pytest.approx(1230.0)
    assert m.estimate_tick(9.0) == 1200.0  # never goes backwards


def test_npc_position_before_welcome_raises() -> None:
    with pytest.raises(RuntimeError):
        Mirror(name="x").npc_position(Npc(1, 1, path(0, 0, 1, 1)))


# --- close policy -----------------------------------------------------------------------


def test_close_policy() -> None:
    for fatal in FATAL_CLOSE_CODES:
        assert close_action(fatal) is CloseAction.FATAL
    for code in (4001, 4003, 4004, 4005, 4006, 4007, 4008, 4010, 4011):
        assert close_action(code) is CloseAction.FATAL
    assert close_action(None) is CloseAction.RESUME
    assert close_action(1006) is CloseAction.RESUME
    assert close_action(CloseCode.SERVICE_RESTART) is CloseAction.RESUME
    assert close_action(CloseCode.HANDSHAKE_TIMEOUT) is CloseAction.RESUME
    assert close_action(CloseCode.RESUME_REFUSED) is CloseAction.RESUME
    assert close_action(1000) is CloseAction.STOP
    assert close_action(1009) is CloseAction.RESUME  # fix the sender; reconnect
    assert close_action(1011) is CloseAction.RESUME
    assert close_action(1001) is CloseAction.RESUME
    assert close_action(1099) is CloseAction.RESUME  # unknown 1xxx: reconnect with backoff
    assert close_action(1002) is CloseAction.FATAL  # broken framing: do not loop
    assert close_action(1007) is CloseAction.FATAL
    assert close_action(4999) is CloseAction.FATAL  # unknown 4xxx: stop and report
    assert close_code_name(4005) == "SERVER_FULL"
    assert close_code_name(1006) == "ABNORMAL_CLOSURE"
    assert close_code_name(None) == "CONNECTION_LOST"
    assert close_code_name(4999) == "4999"


# --- state machine: the mirror equals a simple model after any sequence -----------------

IDS = st.integers(0, 24)
Q = st.integers(0, 65535)


@st.composite
def player_enters(draw: st.DrawFn, nid: int) -> PlayerEnter:
    return PlayerEnter(
        nid,
        draw(Q),
        draw(Q),
        draw(Q),
        draw(st.integers(0, 255)),
        draw(st.integers(0, 255)),
        draw(st.text(st.characters(min_codepoint=32, max_codepoint=0x2FF), min_size=1, max_size=8)),
    )


@st.composite
def npc_paths(draw: st.DrawFn) -> NpcPath:
    return NpcPath(
        draw(Q),
        draw(Q),
        draw(Q),
        draw(Q),
        draw(Q),
        draw(st.integers(0, 255)),
        draw(st.integers(0, 2**32 - 1)),
    )


@st.composite
def enters(draw: st.DrawFn) -> PlayerEnter | NpcEnter:
    nid = draw(IDS)
    if draw(st.booleans()):
        return draw(player_enters(nid))
    return NpcEnter(nid, draw(st.integers(0, 65535)), draw(npc_paths()))


@st.composite
def moves(draw: st.DrawFn) -> Move:
    return Move(draw(IDS), draw(Q), draw(Q), draw(Q), draw(st.integers(0, 255)))


ModelEntity = tuple[Any, ...]


class MirrorMachine(RuleBasedStateMachine):
    """Random frames of enters/moves/paths/leaves and FULL snapshots, sent as real bytes.

    The model is a dict of plain tuples updated by the protocol's rules written the dumbest
    possible way; the mirror must equal it, and so must a dict built only from the events."""

    def __init__(self) -> None:
        super().__init__()
        self.m = welcomed()
        self.model: dict[int, ModelEntity] = {}
        self.from_events: dict[int, Any] = {}
        self.seq = 0
        self.tick = 1000

    def _send(self, f: StateFrame) -> None:
        self.seq += 1
        self.tick += 2
        f.seq, f.tick = self.seq, self.tick
        evs = self.m.receive(encode_state(f), now=float(self.seq))
        assert isinstance(evs[-1], StateReceived) and evs[-1].seq == self.seq
        for ev in evs:
            if isinstance(ev, EntityEntered):
                assert ev.entity.net_id not in self.from_events
                self.from_events[ev.entity.net_id] = ev.entity
            elif isinstance(ev, EntityUpdated):
                assert self.from_events[ev.entity.net_id] == ev.previous
                self.from_events[ev.entity.net_id] = ev.entity
            elif isinstance(ev, EntityLeft):
                assert self.from_events.pop(ev.net_id) == ev.entity
            elif isinstance(ev, Snapshot):
                assert ev.count == len(self.from_events)
        if f.full:
            self.model = {}
        else:
            for nid in f.leaves:
                self.model.pop(nid, None)
        for e in f.enters:
            if isinstance(e, PlayerEnter):
                self.model[e.id] = ("P", e.name, e.health, e.qx, e.qy, e.qz, e.heading)
            elif isinstance(e, NpcEnter):
                self.model[e.id] = ("N", e.model, e.path)
        for nid, p in f.paths:
            cur = self.model.get(nid)
            if cur is not None and cur[0] == "N":
                self.model[nid] = ("N", cur[1], p)
        for mo in f.moves:
            cur = self.model.get(mo.id)
            if cur is None:
                continue
            if cur[0] == "P":
                self.model[mo.id] = ("P", cur[1], cur[2], mo.qx, mo.qy, mo.qz, mo.heading)
            else:
                pinned = NpcPath(mo.qx, mo.qy, mo.qz, mo.qx, mo.qy, 0, self.tick)
                self.model[mo.id] = ("N", cur[1], pinned)

    @rule(
        leaves=st.lists(IDS, max_size=4),
        ents=st.lists(enters(), max_size=4),
        ps=st.lists(st.tuples(IDS, npc_paths()), max_size=3),
        ms=st.lists(moves(), max_size=6),
    )
    def delta(
        self,
        leaves: list[int],
        ents: list[PlayerEnter | NpcEnter],
        ps: list[tuple[int, NpcPath]],
        ms: list[Move],
    ) -> None:
        self._send(StateFrame(0, 0, 0.0, StateFlag.NONE, leaves, list(ents), ps, ms))

    @rule(
        ents=st.lists(enters(), max_size=10),
        ms=st.lists(moves(), max_size=4),
    )
    def full(self, ents: list[PlayerEnter | NpcEnter], ms: list[Move]) -> None:
        self._send(StateFrame(0, 0, 0.0, StateFlag.FULL, [], list(ents), [], ms))

    @precondition(lambda self: bool(self.model))
    @rule(data=st.data())
    def move_known(self, data: st.DataObject) -> None:
        nid = data.draw(st.sampled_from(sorted(self.model)))
        mo = data.draw(moves())
        self._send(
            StateFrame(
                0, 0, 0.0, StateFlag.NONE, moves=[Move(nid, mo.qx, mo.qy, mo.qz, mo.heading)]
            )
        )

    @precondition(lambda self: bool(self.model))
    @rule(data=st.data())
    def leave_known(self, data: st.DataObject) -> None:
        nid = data.draw(st.sampled_from(sorted(self.model)))
        self._send(StateFrame(0, 0, 0.0, StateFlag.NONE, leaves=[nid]))

    @rule()
    def reconnect(self) -> None:
        self.m.connection_lost()
        self.m.hello()
        self.seq = 0

    @invariant()
    def mirror_equals_model(self) -> None:
        got: dict[int, ModelEntity] = {}
        for nid, e in self.m.entities.items():
            assert e.net_id == nid
            if isinstance(e, Player):
                got[nid] = ("P", e.name, e.health, e.qx, e.qy, e.qz, e.qheading)
                x, y, z = e.position
                assert BOUNDS.contains(x, y, z)
            else:
                got[nid] = ("N", e.model, e.path)
        assert got == self.model
        assert self.from_events == self.m.entities
        assert self.m.last_seq == self.seq


MirrorMachine.TestCase.settings = settings(
    max_examples=150,
    stateful_step_count=30,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
TestMirrorMachine = MirrorMachine.TestCase


# --- the shared protocol vectors, replayed through the mirror --------------------------

VECTORS = Path(__file__).resolve().parents[2] / "protocol" / "vectors"


def _vectors(name: str) -> list[dict[str, Any]]:
    cases: list[dict[str, Any]] = orjson.loads((VECTORS / name).read_bytes())
    return cases


def _server_text(name: str) -> str:
    case = next(c for c in _vectors("control_messages.json") if c["name"] == name)
    text: str = case["text"]
    return text


@pytest.mark.parametrize("case", _vectors("state_frames.json"), ids=lambda c: c["name"])
def test_state_vectors_apply_or_are_rejected_whole(case: dict[str, Any]) -> None:
    m = Mirror(name="Ana")
    (ev,) = m.receive(_server_text("welcome"))
    assert isinstance(ev, Welcomed)
    m.receive(frame(1, full=True, enters=[pe(4242, 1.0, 2.0, name="before")]))
    before = dict(m.entities)
    evs = m.receive(bytes.fromhex(case["hex"]), now=1.0)
    if "decoded" not in case:
        data = bytes.fromhex(case["hex"])
        unknown_type = bool(data) and data[0] != 0x01  # ignored without a word (SPEC 5.1)
        assert [type(e) for e in evs] == ([] if unknown_type else [InvalidMessage])
        assert m.entities == before
        return
    d = case["decoded"]
    last = evs[-1]
    assert isinstance(last, StateReceived) and (last.seq, last.tick) == (d["seq"], d["tick"])
    expect = {} if d["full"] else {k: v for k, v in before.items() if k not in d["leaves"]}
    known_kinds = {EntityKind.PLAYER, EntityKind.NPC}
    for e in d["enters"]:
        if e["kind"] in known_kinds:
            expect[e["id"]] = e
    assert set(m.entities) == set(expect)
    for nid, e in m.entities.items():
        if isinstance(e, Player) and nid in {x["id"] for x in d["enters"]}:
            src = next(x for x in d["enters"] if x["id"] == nid)
            assert e.name == src["name"] and e.health == src["health"]


@pytest.mark.parametrize(
    "name", ["welcome", "welcome_unknown_fields", "pong", "pong_without_t", "error_with_ref",
             "error_without_ref", "correct", "reconnect", "chat_broadcast", "npc_say"],
)  # fmt: skip
def test_server_message_vectors_become_typed_events(name: str) -> None:
    m = Mirror(name="Ana")
    evs = m.receive(_server_text(name), now=2.0)
    assert len(evs) == 1 and not isinstance(evs[0], InvalidMessage)


def test_bad_server_message_vectors_are_invalid_or_ignored() -> None:
    (ev,) = Mirror(name="Ana").receive(_server_text("welcome_missing_field"))
    assert isinstance(ev, InvalidMessage)
    assert Mirror(name="Ana").receive(_server_text("server_unknown_op")) == []
