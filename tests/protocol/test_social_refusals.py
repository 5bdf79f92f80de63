"""The refusal reasons of `faction` and `companion` (SPEC §4.2, error 16 / 17) stay in step:
every reason the catalogue lists is documented, and every reason the server can send a client
is in the catalogue (read from the code that raises them, so a new one cannot slip by)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import protocol
from protocol.catalogue import COMPANION_REFUSALS, FACTION_REFUSALS

ROOT = Path(protocol.__file__).parent.parent
SPEC = (ROOT / "protocol" / "SPEC.md").read_text(encoding="utf-8")
# `_refuse(` / `_counted(` / `...Error(` followed by up to two quoted words: the code is the
# last quoted word before the message (an f-string or a sentence, never a bare slug).
RAISED = re.compile(r'(?:_refuse|_counted|Error)\(\s*(?:\w+,\s*)?((?:"[A-Za-z_]+",\s*)+)', re.S)
# Reasons no well-formed client message can cause: the protocol's decoder refuses the input
# first (a faction's bad_name, a companion's bad_type), or no client message asks for it
# (demote, treat).
FACTION_UNREACHABLE = {"bad_name", "bottom_rank"}
COMPANION_UNREACHABLE = {"bad_type", "bad_treatment"}


def raised(*files: str) -> set[str]:
    found: set[str] = set()
    for f in files:
        for m in RAISED.finditer((ROOT / f).read_text(encoding="utf-8")):
            found.add(re.findall(r'"([A-Za-z_]+)"', m.group(1))[-1].lower())
    return found


@pytest.mark.parametrize("reason", [*FACTION_REFUSALS, *COMPANION_REFUSALS])
def test_every_reason_is_documented(reason: str) -> None:
    assert f"`{reason}`" in SPEC


def test_every_faction_refusal_the_server_sends_is_catalogued() -> None:
    got = raised("server/gameplay/factions.py", "server/game/factions.py")
    assert {"forbidden", "rank", "busy", "unavailable"} <= got  # the scan finds them
    assert got - FACTION_UNREACHABLE <= set(FACTION_REFUSALS)


def test_every_companion_refusal_the_server_sends_is_catalogued() -> None:
    got = raised("server/gameplay/companions.py", "server/game/companions.py")
    assert {"limit", "refuses", "not_summoned", "busy"} <= got
    assert got - COMPANION_UNREACHABLE <= set(COMPANION_REFUSALS)
