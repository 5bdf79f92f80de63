"""SPEC.md §19's examples are what the server speaks: each `json admin` block parses, each
`cmd` names a registered command with valid arguments, and the command table lists exactly
the registry."""

from __future__ import annotations

import json
import re
from pathlib import Path

import protocol
from server.admin.registry import ERROR_CODES, load
from server.admin.schema import check

SPEC = (Path(protocol.__file__).parent / "SPEC.md").read_text("utf-8")
ADMIN = SPEC[SPEC.index("## 19. Admin console") :]


def test_examples_are_admin_messages() -> None:
    commands = load()
    found = []
    for block in re.findall(r"```json admin\n(.*?)```", SPEC, flags=re.S):
        try:
            found.append(json.loads(block))
        except json.JSONDecodeError:
            found.extend(json.loads(line) for line in block.splitlines() if line.strip())
    ops = {m["op"] for m in found}
    assert ops == {"auth", "authed", "cmd", "result"}
    for m in found:
        if m["op"] == "cmd":
            check(m["args"], commands[m["cmd"]].args)
        if m["op"] == "result" and not m["ok"]:
            assert m["error"]["code"] in ERROR_CODES


def test_the_command_table_lists_the_registry() -> None:
    table = ADMIN[ADMIN.index("### 19.3") : ADMIN.index("### 19.4")]
    named = set()
    for row in re.findall(r"^\| (`[^|]+`) \|", table, flags=re.M):
        named.update(re.findall(r"`([a-z_.]+)`", row))
    assert named == set(load())
    for code in ERROR_CODES:
        assert f"| `{code}` |" in ADMIN
