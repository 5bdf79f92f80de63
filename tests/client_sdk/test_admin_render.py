"""How ganggpt-admin shows answers (client_sdk/admin/render.py): names are data, never markup;
colour only when asked."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from client_sdk.admin.render import Renderer

PLAIN = Renderer(color=False, width=200)
COLOUR = Renderer(color=True, width=200)

names = st.text(
    alphabet=st.characters(blacklist_categories=("Cs", "Cc", "Zl", "Zp", "Mn", "Me", "Cf")),
    min_size=1,
    max_size=12,
).filter(lambda s: s.strip() == s and s.isprintable())


@given(name=names)
def test_player_names_are_shown_literally(name: str) -> None:
    out = PLAIN.result(
        "players",
        "players.list",
        {"players": [{"net_id": 7, "name": name, "x": 1.25, "violations": 2}]},
    )
    assert name in out and "1 player(s)" in out and "\x1b[" not in out


def test_markup_in_data_is_not_interpreted() -> None:
    out = PLAIN.result(
        "audit",
        "audit.list",
        {"rows": [{"id": 1, "actor": "[red]root[/]", "action": "players.kick", "result": "ok"}]},
    )
    assert "[red]root[/]" in out


def test_colour_only_when_asked() -> None:
    data = {"kicked": True, "player_id": "p1"}
    assert PLAIN.result("data", "players.kick", data).strip() == (
        "ok players.kick kicked=true player_id=p1"
    )
    assert "\x1b[" in COLOUR.result("data", "players.kick", data)
    assert "\x1b[" in COLOUR.error("boom") and "\x1b[" not in PLAIN.error("boom")


def test_pushes_are_one_line_each() -> None:
    line = PLAIN.push("events", {"kind": "ban", "at": 0, "seq": 3, "name": "Vicky"})
    assert line.count("\n") == 1 and "events:ban" in line and "name=Vicky" in line
    assert "seq" not in line
    joined = PLAIN.push("players", {"change": "joined", "net_id": 9, "name": "Ana"})
    assert "players:joined" in joined and "name=Ana" in joined
    metrics = PLAIN.push("metrics", {"players": 3, "tick_ms": {"p50": 0.25, "p99": 1.5}})
    assert "players=3" in metrics and "tick_ms.p99=1.5" in metrics


def test_help_marks_what_the_role_may_not_run() -> None:
    out = PLAIN.help(["players.list", "players.kick"])
    kick = next(line for line in out.splitlines() if "kick <player>" in line)
    ban = next(line for line in out.splitlines() if "ban <player" in line)
    assert "not permitted" not in kick and "not permitted" in ban
