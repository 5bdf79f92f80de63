"""SPEC.md and the catalogue cannot drift: every code, op and size is in the spec."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import protocol
from protocol.catalogue import (
    PROTOCOL_VERSION,
    ClientOp,
    CloseCode,
    EntityKind,
    ErrorCode,
    FrameType,
    ServerOp,
    StateFlag,
)

SPEC = (Path(protocol.__file__).parent / "SPEC.md").read_text(encoding="utf-8")
LINES = SPEC.splitlines()


def _table_row(number: int, name: str) -> bool:
    """A Markdown table row whose first two cells are the number and the `NAME`."""
    pat = re.compile(rf"^\|\s*{number}\s*\|\s*`{re.escape(name)}`\s*\|")
    return any(pat.match(line) for line in LINES)


@pytest.mark.parametrize("code", list(ErrorCode), ids=lambda c: c.name)
def test_error_code_documented(code: ErrorCode) -> None:
    assert _table_row(int(code), code.name), f"| {int(code)} | `{code.name}` | missing"


@pytest.mark.parametrize("code", list(CloseCode), ids=lambda c: c.name)
def test_close_code_documented(code: CloseCode) -> None:
    assert _table_row(int(code), code.name), f"| {int(code)} | `{code.name}` | missing"


def test_no_undefined_codes_in_tables() -> None:
    """Rows in the error/close tables name only codes the catalogue has (or RFC 6455 ones)."""
    known = {(int(c), c.name) for c in ErrorCode} | {(int(c), c.name) for c in CloseCode}
    row = re.compile(r"^\|\s*(\d+)\s*\|\s*`([A-Z_]+)`\s*\|")
    for line in LINES:
        m = row.match(line)
        if m and m.group(2) not in {"PLAYER", "NPC", "STATE", "INPUT", "FULL"}:
            number, name = int(m.group(1)), m.group(2)
            if number >= 4000 or number < 1000:
                assert (number, name) in known, line


@pytest.mark.parametrize("op", [*ClientOp, *ServerOp])
def test_ops_documented(op: str) -> None:
    assert f'"op":"{op}"' in SPEC.replace(" ", "") or f"`{op}`" in SPEC


def test_frame_types_kinds_flags_version() -> None:
    for ft in FrameType:
        assert f"0x{int(ft):02x}" in SPEC.lower(), ft.name
    for kind in EntityKind:
        assert _table_row(int(kind), kind.name), kind.name
    assert "0x01" in SPEC and "FULL" in SPEC and StateFlag.FULL == 1
    assert f"`v`: {PROTOCOL_VERSION}" in SPEC or f'"v":{PROTOCOL_VERSION}' in SPEC.replace(" ", "")


@pytest.mark.parametrize(
    "fact",
    [
        "22005",
        "/ws",
        "/health",
        "/metrics",
        "65535",
        "little-endian",
        "25 bytes",
        "18 bytes",
        "9 bytes",
        "17 bytes",
        "4096",
    ],
)
def test_key_facts_present(fact: str) -> None:
    assert fact in SPEC


def _annotated_hex(after_heading: str) -> str:
    """Hex bytes of the first code block after a heading line: each line's leading hex groups."""
    start = SPEC.index(after_heading)
    block = SPEC[SPEC.index("```", start) + 3 :]
    block = block[block.index("\n") + 1 : block.index("```")]
    out = []
    for line in block.splitlines():
        for tok in line.split():
            if not re.fullmatch(r"[0-9a-f]+", tok) or len(tok) % 2:
                break
            out.append(tok)
    return "".join(out)


def _vector(file: str, name: str) -> str:
    import json

    cases = json.loads((Path(protocol.__file__).parent / "vectors" / file).read_text("utf-8"))
    return str(next(c["hex"] for c in cases if c["name"] == name))


def test_annotated_examples_match_vectors() -> None:
    assert _annotated_hex("#### Example\n") == _vector("state_frames.json", "mixed_delta")
    assert _annotated_hex("Example (`input_frames.json`, case `typical`)") == _vector(
        "input_frames.json", "typical"
    )


def _json_examples() -> list[dict[str, object]]:
    import json

    found: list[dict[str, object]] = []
    for block in re.findall(r"```json\n(.*?)```", SPEC, flags=re.S):
        try:
            found.append(json.loads(block))
            continue
        except json.JSONDecodeError:
            pass
        found.extend(json.loads(line) for line in block.splitlines() if line.strip())
    return [f for f in found if "op" in f]


def test_json_examples_are_valid_messages() -> None:
    import orjson

    from protocol import control

    examples = _json_examples()
    assert len(examples) >= 10
    seen = set()
    for ex in examples:
        data = orjson.dumps(ex)
        # chat and who are ops both ways: the server's carry from_id / entities.
        server_side = (ex["op"] == "chat" and "from_id" in ex) or "entities" in ex
        if ex["op"] in set(ClientOp) and not server_side:
            msg: object = control.decode_client(data)
        else:
            msg = control.decode_server(data)
        seen.add(type(msg).__name__)
    assert {
        "Hello",
        "Ping",
        "Leave",
        "Welcome",
        "Pong",
        "Error",
        "Correct",
        "Reconnect",
        "Who",
        "WhoReply",
    } <= seen


# --- the numbers SPEC quotes are the server's -------------------------------------------

_UNITS = {"KiB": 1024, "MiB": 1024 * 1024}


def _quoted_defaults() -> list[tuple[str, float, str]]:
    """(config field, number, the text) for every `NAME (60 ...`, `(NAME, 60)` and
    "`welcome.name` (60)" in SPEC.md."""
    num = r"(\d[\d,]*(?:\.\d+)?)\s*(KiB|MiB)?"
    found = []
    for pat in (
        rf"\b([A-Z][A-Z0-9_]{{3,}})\s+\({num}",
        rf"\(([A-Z][A-Z0-9_]{{3,}}), {num}",
        rf"`welcome\.([a-z_]+)` \({num}",
    ):
        for m in re.finditer(pat, SPEC):
            value = float(m.group(2).replace(",", "")) * _UNITS.get(m.group(3) or "", 1)
            found.append((m.group(1).lower(), value, m.group(0)))
    return found


def test_quoted_defaults_are_the_config_defaults() -> None:
    """A default SPEC quotes is the one the server runs with (INPUT_RATE_LIMIT was quoted as
    60 while every welcome said 120)."""
    from config.settings import Config

    fields = Config.model_fields
    checked = 0
    for name, value, text in _quoted_defaults():
        if name in fields and isinstance(fields[name].default, (int, float)):
            assert float(fields[name].default) == value, f"SPEC says {text!r}"
            checked += 1
    assert checked >= 20


def test_welcome_limits_table_is_what_the_server_sends() -> None:
    """Every key `welcome.limits` carries is in SPEC's table with its default, and no other."""
    from config import load_config
    from server.limits import welcome_limits

    start = SPEC.index("`welcome.limits` (")
    table = SPEC[start : SPEC.index("```json", start)]
    rows = dict(re.findall(r"^\| `([a-z_]+)` \| [a-z]+ \| (.*) \|$", table, flags=re.M))
    sent = welcome_limits(load_config(sqlite_path=""))
    assert set(rows) == set(sent)
    for key, value in sent.items():
        m = re.search(r", (-?[\d.]+)\)|\((\d[\d.]*)\)", rows[key])
        assert m is not None, key
        assert float(m.group(1) or m.group(2)) == value, (key, rows[key])
    example = next(e for e in _json_examples() if e["op"] == "welcome")
    assert example["limits"] == sent
