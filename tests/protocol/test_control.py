"""JSON control messages: round trips in both directions and every documented rejection."""

from __future__ import annotations

import contextlib
import dataclasses
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from protocol import control as c
from protocol.catalogue import (
    COMPANION_ACTIONS,
    COMPANION_KINDS,
    PROTOCOL_VERSION,
    SUPPORTED_VERSIONS,
    ClientOp,
    CloseCode,
    ErrorCode,
    ProtocolError,
    ServerOp,
)
from protocol.quant import WorldBounds
from tests.protocol.strategies import any_text, finite, names, texts

EXAMPLES = settings(max_examples=60, deadline=None)

tokens = st.text(
    st.characters(min_codepoint=0x20, exclude_categories=("Cs",)), min_size=1, max_size=64
)

jwts = st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E), min_size=1, max_size=64)

hellos = st.builds(
    c.Hello,
    v=st.just(PROTOCOL_VERSION),
    name=names,
    token=st.none() | jwts,
    resume=st.none() | tokens,
)
client_messages: st.SearchStrategy[c.ClientMessage] = st.one_of(
    hellos,
    st.builds(c.Ping, id=st.integers(0, 2**53), t=st.none() | finite),
    st.builds(c.Chat, text=texts),
    st.builds(c.Talk, npc=st.integers(0, 0xFFFF), text=texts),
    st.just(c.Leave()),
    st.builds(
        c.Custom,
        type=st.from_regex(r"[a-z0-9_]{1,20}\.[a-z0-9_]{1,20}", fullmatch=True),
        data=st.dictionaries(any_text, st.integers(-(2**63), 2**63 - 1) | any_text, max_size=3),
    ),
    st.builds(c.Who, ids=st.lists(st.integers(0, 0xFFFF), min_size=1, max_size=c.WHO_MAX)),
    # --- factions and companions ---
    st.builds(
        c.Faction,
        action=st.sampled_from(["leave", "info"]),
        name=st.none() | st.from_regex(r"[a-z0-9_]{2,40}", fullmatch=True),
        display_name=st.none() | texts.filter(lambda t: len(t) <= c.DISPLAY_NAME_MAX),
        player=st.none() | tokens,
    ),
    st.builds(
        c.Faction,
        action=st.sampled_from(["create", "join"]),
        name=st.from_regex(r"[a-z0-9_]{2,40}", fullmatch=True),
        display_name=st.none() | texts.filter(lambda t: len(t) <= c.DISPLAY_NAME_MAX),
    ),
    st.builds(c.Faction, action=st.sampled_from(["promote", "kick"]), player=tokens),
    st.builds(
        c.Companion,
        action=st.sampled_from(COMPANION_ACTIONS),
        id=st.none() | tokens,
        name=st.none() | names,
        kind=st.none() | st.sampled_from(COMPANION_KINDS),
    ),
)

world_dicts = st.builds(
    lambda a, b: WorldBounds(a, a, a, b, b, b).as_dict(),
    st.floats(-1e4, 0),
    st.floats(1, 1e4),
)
i64 = st.integers(-(2**63), 2**63 - 1)
server_messages: st.SearchStrategy[c.ServerMessage] = st.one_of(
    st.builds(
        c.Welcome,
        v=st.just(1),
        player_id=any_text,
        net_id=st.integers(0, 0xFFFF),
        name=names,
        server_name=any_text,
        tick_rate=st.integers(1, 240),
        send_rate=st.integers(1, 240),
        tick=st.integers(0, 2**32 - 1),
        server_time=finite,
        world=world_dicts,
        aoi_radius=finite,
        aoi_cell_size=finite,
        resume_token=any_text,
        resume_window=finite,
        max_message_size=st.integers(64, 1 << 20),
        input_rate_limit=st.integers(1, 10000),
        resumed=st.booleans(),
        x=finite,
        y=finite,
        z=finite,
        heading=finite,
    ),
    st.builds(c.Pong, id=st.integers(0, 2**53), server_time=finite, t=st.none() | finite),
    st.builds(
        c.Error, code=st.integers(1, 99), name=any_text, message=any_text, ref=st.none() | i64
    ),
    st.builds(
        c.Reconnect,
        resume_token=any_text,
        after_ms=st.integers(0, 2**31),
        resume_window=finite,
        reason=any_text,
    ),
    st.builds(c.Correct, x=finite, y=finite, z=finite, heading=finite, ref=i64),
    st.builds(c.ChatMessage, from_id=st.integers(0, 0xFFFF), name=names, text=texts),
    st.builds(
        c.NpcSay,
        npc=st.integers(0, 0xFFFF),
        to=st.integers(0, 0xFFFF),
        text=texts,
        reply_id=st.none() | st.integers(1, 2**53),
        replaced=st.none() | st.just(True),
    ),
    st.builds(
        c.NpcSayPart,
        npc=st.integers(0, 0xFFFF),
        to=st.integers(0, 0xFFFF),
        reply_id=st.integers(1, 2**53),
        seq=st.integers(1, 2**31),
        text=texts,
    ),
    st.builds(
        c.GameEvent, type=any_text, data=st.dictionaries(any_text, i64 | any_text, max_size=3)
    ),
    st.builds(
        c.CustomMessage, type=any_text, data=st.dictionaries(any_text, i64 | any_text, max_size=3)
    ),
    st.builds(
        c.WhoReply,
        entities=st.lists(
            st.fixed_dictionaries(
                {"id": st.integers(0, 0xFFFF), "kind": st.just("npc"), "name": names},
                optional={"role": any_text, "faction": any_text},
            ),
            max_size=5,
        ),
    ),
)


# --- round trips ------------------------------------------------------------------------


@EXAMPLES
@given(client_messages)
def test_client_message_round_trip(msg: c.ClientMessage) -> None:
    data = c.encode(msg)
    assert c.decode_client(data) == msg
    assert c.decode_client(data.decode("utf-8")) == msg  # str and bytes alike


@EXAMPLES
@given(hellos)
def test_hello_round_trip_as_first_message(msg: c.Hello) -> None:
    assert c.decode_first(c.encode(msg)) == msg


@EXAMPLES
@given(server_messages)
def test_server_message_round_trip(msg: c.ServerMessage) -> None:
    assert c.decode_server(c.encode(msg)) == msg


@EXAMPLES
@given(client_messages | server_messages)
def test_encoding_is_compact_json_object_with_op_first_and_no_nulls(
    msg: c.ClientMessage | c.ServerMessage,
) -> None:
    data = c.encode(msg)
    obj = orjson.loads(data)
    assert next(iter(obj)) == "op" and obj["op"] == msg.OP
    assert None not in obj.values()
    assert b"\n" not in data and b": " not in data


@EXAMPLES
@given(
    server_messages, st.dictionaries(any_text.map(lambda k: "x_" + k), i64 | any_text, max_size=3)
)
def test_server_message_unknown_fields_ignored(msg: c.ServerMessage, extra: dict[str, Any]) -> None:
    obj = orjson.loads(c.encode(msg))
    obj.update(extra)
    obj["OP"] = "ignored too"
    assert c.decode_server(orjson.dumps(obj)) == msg


def test_error_helper_names_the_code() -> None:
    for code in ErrorCode:
        e = c.error(code, "m", ref=3)
        assert (e.code, e.name, e.ref) == (int(code), code.name, 3)


def test_ops_cover_the_catalogue() -> None:
    sample = {
        ClientOp.HELLO: c.Hello(v=1, name="a"),
        ClientOp.PING: c.Ping(id=1),
        ClientOp.CHAT: c.Chat(text="a"),
        ClientOp.TALK: c.Talk(npc=1, text="a"),
        ClientOp.LEAVE: c.Leave(),
        ClientOp.CUSTOM: c.Custom(type="taxi.start", data={}),
        ClientOp.WHO: c.Who(ids=[1]),
        ClientOp.FACTION: c.Faction(action="leave"),
        ClientOp.COMPANION: c.Companion(action="info"),
        ClientOp.MISSION: c.Mission(action="list"),
    }
    assert set(sample) == set(ClientOp)
    for op, msg in sample.items():
        assert orjson.loads(c.encode(msg))["op"] == op
    server_ops = {
        c.Welcome.OP,
        c.Pong.OP,
        c.Error.OP,
        c.Reconnect.OP,
        c.Correct.OP,
        c.ChatMessage.OP,
        c.NpcSay.OP,
        c.GameEvent.OP,
        c.CustomMessage.OP,
        c.WhoReply.OP,
        c.NpcSayPart.OP,
    }
    assert server_ops == set(ServerOp)


# --- rejections: errors (connection stays) ---------------------------------------------------


def _err(data: str | bytes) -> ErrorCode | None:
    with pytest.raises(ProtocolError) as ei:
        c.decode_client(data)
    assert ei.value.close is None
    return ei.value.error


@pytest.mark.parametrize(
    "data",
    [
        "",
        "{",
        "nul",
        '{"op":"ping"',
        "[]",
        "[1]",
        '"hello"',
        "42",
        "null",
        "true",
        '{"op":"ping","id":1,"t":NaN}',
        '{"op":"ping","id":1,"t":Infinity}',
        '{"op":"ping","id":1,"t":1e999}',
        b"\xff\xfe",
        "\ufeff{}",
    ],
)
def test_bad_json(data: str | bytes) -> None:
    assert _err(data) == ErrorCode.BAD_JSON


@pytest.mark.parametrize(
    "data",
    [
        '{"op":"dance"}',
        "{}",
        '{"op":null}',
        '{"op":1}',
        '{"op":["ping"]}',
        '{"op":"PING","id":1}',
        '{"op":"welcome"}',
        '{"Op":"ping","id":1}',
    ],
)
def test_unknown_op(data: str) -> None:
    assert _err(data) == ErrorCode.UNKNOWN_OP


@pytest.mark.parametrize(
    "obj",
    [
        {"op": "ping"},
        {"op": "ping", "id": -1},
        {"op": "ping", "id": 2**53 + 1},
        {"op": "ping", "id": 1.0},
        {"op": "ping", "id": "1"},
        {"op": "ping", "id": True},
        {"op": "ping", "id": 1, "t": "now"},
        {"op": "ping", "id": 1, "t": False},
        {"op": "chat"},
        {"op": "chat", "text": ""},
        {"op": "chat", "text": "x" * (c.TEXT_MAX + 1)},
        {"op": "chat", "text": 5},
        {"op": "chat", "text": "a\tb"},
        {"op": "chat", "text": "\x00"},
        {"op": "talk", "text": "hi"},
        {"op": "talk", "npc": -1, "text": "hi"},
        {"op": "talk", "npc": 65536, "text": "hi"},
        {"op": "talk", "npc": 1},
        {"op": "talk", "npc": 1, "text": ""},
        {"op": "who"},
        {"op": "who", "ids": []},
        {"op": "who", "ids": 5},
        {"op": "who", "ids": [1] * (c.WHO_MAX + 1)},
        {"op": "who", "ids": [-1]},
        {"op": "who", "ids": [65536]},
        {"op": "who", "ids": [1.0]},
        {"op": "who", "ids": [True]},
        {"op": "who", "ids": ["1"]},
        {"op": "who", "ids": [[1]]},
    ],
)
def test_bad_field(obj: dict[str, Any]) -> None:
    assert _err(orjson.dumps(obj)) == ErrorCode.BAD_FIELD


def test_text_limits_count_code_points() -> None:
    astral = "\U0001f600"
    assert c.decode_client(orjson.dumps({"op": "chat", "text": astral * c.TEXT_MAX})) == c.Chat(
        astral * c.TEXT_MAX
    )
    assert _err(orjson.dumps({"op": "chat", "text": astral * (c.TEXT_MAX + 1)})) == (
        ErrorCode.BAD_FIELD
    )


def test_non_finite_is_never_valid_json() -> None:
    # JSON has no NaN/Infinity and orjson refuses overflowing literals, so a JSON message
    # cannot carry a non-finite number: such text is BAD_JSON (NON_FINITE is for INPUT frames).
    for t in ("NaN", "-Infinity", "1e400", "-1e400"):
        assert _err('{"op":"ping","id":1,"t":' + t + "}") == ErrorCode.BAD_JSON


@pytest.mark.parametrize(
    "obj", [{"op": "hello", "v": 1, "name": "Ana"}, {"op": "hello", "v": 7}, {"op": "hello"}]
)
def test_hello_after_welcome_is_already_welcomed_or_decoded(obj: dict[str, Any]) -> None:
    data = orjson.dumps(obj)
    try:
        msg = c.decode_client(data)
    except ProtocolError as e:
        assert e.error == ErrorCode.ALREADY_WELCOMED and e.close is None
    else:
        assert isinstance(msg, c.Hello)  # the server answers ALREADY_WELCOMED


def test_leave_ignores_extra_fields() -> None:
    assert c.decode_client('{"op":"leave","reason":"bye"}') == c.Leave()


def test_unknown_client_fields_ignored() -> None:
    assert c.decode_client('{"op":"ping","id":4,"extra":[1,2]}') == c.Ping(id=4)


# --- rejections: closes (first message) ----------------------------------------------------


def _close(data: str | bytes) -> CloseCode | None:
    with pytest.raises(ProtocolError) as ei:
        c.decode_first(data)
    assert ei.value.error is None
    return ei.value.close


@pytest.mark.parametrize(
    "data",
    [
        "",
        "not json",
        "[]",
        '{"op":"ping","id":1}',
        '{"op":"chat","text":"hi"}',
        '{"v":1,"name":"Ana"}',
        '{"op":"leave"}',
        '{"op":"hello","name":"Ana"}',
        '{"op":"hello","v":"1","name":"Ana"}',
        '{"op":"hello","v":1.0,"name":"Ana"}',
        '{"op":"hello","v":true,"name":"Ana"}',
        '{"op":"hello","v":-1,"name":"Ana"}',
        '{"op":"hello","v":1}',
        '{"op":"hello","v":1,"name":""}',
        '{"op":"hello","v":1,"name":null}',
        '{"op":"hello","v":1,"name":["Ana"]}',
        '{"op":"hello","v":1,"name":"A\\u0000"}',
        '{"op":"hello","v":1,"name":"Ana","token":""}',
        '{"op":"hello","v":1,"name":"Ana","token":5}',
        '{"op":"hello","v":1,"name":"Ana","resume":""}',
        '{"op":"hello","v":1,"name":"Ana","resume":false}',
    ],
)
def test_bad_hello_closes(data: str) -> None:
    assert _close(data) == CloseCode.BAD_HELLO


def test_oversized_names_and_tokens_close() -> None:
    for obj in (
        {"op": "hello", "v": 1, "name": "n" * (c.NAME_MAX + 1)},
        {"op": "hello", "v": 1, "name": "\U0001d4d0" * (c.NAME_MAX + 1)},
        {"op": "hello", "v": 1, "name": "Ana", "token": "t" * (c.TOKEN_MAX + 1)},
        {"op": "hello", "v": 1, "name": "Ana", "resume": "r" * (c.RESUME_MAX + 1)},
    ):
        assert _close(orjson.dumps(obj)) == CloseCode.BAD_HELLO
    # the limits themselves are fine, and count code points
    ok = {"op": "hello", "v": 1, "name": "\U0001d4d0" * c.NAME_MAX, "resume": "r" * c.RESUME_MAX}
    assert c.decode_first(orjson.dumps(ok)).name == "\U0001d4d0" * c.NAME_MAX


@pytest.mark.parametrize("token", ["caf\u00e9", "two words", "del\x7f"])
def test_token_is_printable_ascii(token: str) -> None:
    assert _close(orjson.dumps({"op": "hello", "v": 1, "name": "Ana", "token": token})) == (
        CloseCode.BAD_HELLO
    )


def test_a_maximal_hello_fits_the_hello_size() -> None:
    """Every field at its limit, in the widest UTF-8 (4 bytes a code point): still a hello
    the server reads whatever MAX_MESSAGE_SIZE is (it once needed 4,096 bytes for the token
    alone, in a 4,096-byte message)."""
    wide = "\U0001d4d0"
    hello = c.Hello(
        v=c.VERSION_MAX,
        name=wide * c.NAME_MAX,
        token="~" * c.TOKEN_MAX,
        resume=wide * c.RESUME_MAX,
        spectate=True,
    )
    assert len(c.encode(hello)) <= c.HELLO_MAX_SIZE
    ours = dataclasses.replace(hello, v=PROTOCOL_VERSION)
    assert c.decode_first(c.encode(ours)) == ours


def test_version_is_a_signed_32_bit_integer() -> None:
    """2^31 - 1 is a version (not ours); 2^31 is not a valid `v` at all."""
    assert _close(orjson.dumps({"op": "hello", "v": 2**31, "name": "Ana"})) == CloseCode.BAD_HELLO


@pytest.mark.parametrize("v", [0, 2, 3, 99, 2**31 - 1])
def test_wrong_version_closes_unsupported(v: int) -> None:
    assert v not in SUPPORTED_VERSIONS
    with pytest.raises(ProtocolError) as ei:
        c.decode_first(orjson.dumps({"op": "hello", "v": v, "name": "Ana"}))
    assert ei.value.close == CloseCode.UNSUPPORTED_VERSION
    assert ",".join(str(x) for x in sorted(SUPPORTED_VERSIONS)) in ei.value.message


def test_version_is_checked_before_other_fields() -> None:
    assert _close('{"op":"hello","v":2}') == CloseCode.UNSUPPORTED_VERSION
    assert _close('{"op":"hello","v":2,"name":""}') == CloseCode.UNSUPPORTED_VERSION


# --- server messages a client cannot use ----------------------------------------------------


def test_server_unknown_op_and_missing_fields() -> None:
    for data in ('{"op":"weather"}', "{}", '{"op":5}'):
        with pytest.raises(ProtocolError) as ei:
            c.decode_server(data)
        assert ei.value.error == ErrorCode.UNKNOWN_OP
    with pytest.raises(ProtocolError) as ei:
        c.decode_server('{"op":"pong","id":1}')
    assert ei.value.error == ErrorCode.BAD_FIELD
    with pytest.raises(ProtocolError) as ei:
        c.decode_server("[1]")
    assert ei.value.error == ErrorCode.BAD_JSON


# --- fuzz: nothing but ProtocolError escapes -----------------------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1) | finite | any_text,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(any_text, inner, max_size=3),
    max_leaves=8,
)
ops = st.sampled_from([*ClientOp, *ServerOp, "", "x"])
objects = st.builds(
    lambda op, rest: {"op": op, **rest},
    ops,
    st.dictionaries(
        st.sampled_from(["v", "name", "token", "resume", "id", "t", "text", "npc", "zz"]),
        json_values,
        max_size=5,
    ),
)


@settings(max_examples=150, deadline=None)
@given(objects)
def test_decoders_raise_only_protocol_errors(obj: dict[str, Any]) -> None:
    data = orjson.dumps(obj)
    for decode in (c.decode_client, c.decode_first, c.decode_server):
        try:
            decode(data)
        except ProtocolError as e:
            assert (e.error is None) != (e.close is None)
            if decode is c.decode_first:
                assert e.close in (CloseCode.BAD_HELLO, CloseCode.UNSUPPORTED_VERSION)
            else:
                assert e.error is not None


@settings(max_examples=100, deadline=None)
@given(st.binary(max_size=64) | st.text(max_size=64))
def test_garbage_raises_only_protocol_errors(data: bytes | str) -> None:
    for decode in (c.decode_client, c.decode_first, c.decode_server):
        with contextlib.suppress(ProtocolError):
            decode(data)
