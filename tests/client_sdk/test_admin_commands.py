"""The ganggpt-admin syntax (client_sdk/admin/commands.py): lines to wire commands."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from client_sdk.admin.commands import (
    SYNTAX,
    Call,
    Local,
    UsageError,
    duration,
    parse,
    take,
)


def call(line: str) -> Call:
    got = parse(line)
    assert isinstance(got, Call), got
    return got


def test_the_readable_syntax_maps_to_wire_commands() -> None:
    assert call("players") == Call("players.list", {}, "players")
    assert call("kick Ana spamming the chat").args == {
        "player": "Ana",
        "reason": "spamming the chat",
    }
    assert call("kick 12").args == {"player": 12, "reason": ""}  # digits are a net id
    assert call("ban Ana 1h cheating, don't care").args == {
        "player": "Ana",
        "reason": "cheating, don't care",
        "duration_s": 3600,
    }
    assert call('ban "Big Ana" perm "griefing"').args == {
        "player": "Big Ana",
        "reason": "griefing",
        "duration_s": None,
    }
    assert call("warn Ana stop that").cmd == "players.warn"
    assert call("unban 6c1f").args == {"account": "6c1f"}
    assert call("notes Ana").args == {"player": "Ana"}
    assert call("notes Ana was rude in chat").args == {"player": "Ana", "text": "was rude in chat"}
    assert call("announce  restart at 20:00 ").args == {"text": "restart at 20:00"}
    assert call("tp Ana 1 -2.5 30").args == {"player": "Ana", "x": 1.0, "y": -2.5, "z": 30.0}
    assert call("npc spawn 1 2 3 name=Tony role=vendor").args == {
        "x": 1.0,
        "y": 2.0,
        "z": 3.0,
        "name": "Tony",
        "role": "vendor",
    }
    assert call("npc inspect 12") == Call("npcs.inspect", {"npc": 12}, "npc")
    assert call("npc despawn 12").cmd == "npcs.despawn"
    assert call("npc remember 12 fact 80 Ana owes him $500").args == {
        "npc": 12,
        "memory_add": {"type": "fact", "weight": 80, "content": "Ana owes him $500"},
    }
    assert call("npc forget 12 m-7").args == {"npc": 12, "memory_delete": "m-7"}
    assert call('npc edit 12 {"memory_delete": 4}').args == {"npc": 12, "memory_delete": 4}
    assert call("npcs 0 0 50").args == {"near": {"x": 0.0, "y": 0.0, "radius": 50.0}}
    assert call("npcs limit=5").args == {"limit": 5}
    assert call("ban account=6c1f perm chargeback").args == {
        "account": "6c1f",
        "reason": "chargeback",
        "duration_s": None,
    }
    assert call("missions 5 Ana").args == {"limit": 5, "player": "Ana"}
    assert call("metrics").cmd == "server.metrics"
    assert call("audit").args == {}
    assert call("audit 5 action=players.ban").args == {"limit": 5, "action": "players.ban"}
    assert call("tail 20").args == {"n": 20}
    assert call("restart 60 back in a minute").args == {
        "in_s": 60,
        "message": "back in a minute",
    }
    assert call("restart cancel").cmd == "server.restart_cancel"
    assert call("give Ana 500 event prize").args == {
        "player": "Ana",
        "amount": 500,
        "reason": "event prize",
    }
    assert call("relation ballas families -40").args == {
        "a": "ballas",
        "b": "families",
        "strength": -40,
    }
    assert call('raw players.inspect {"player": "Ana"}') == Call(
        "players.inspect", {"player": "Ana"}, "data"
    )
    assert call("factions.list").cmd == "factions.list"  # a wire name works as is
    assert parse("watch metrics events") == Local("watch", ("metrics", "events"))
    assert parse("exit") == Local("quit")
    assert parse("   ") is None and parse("# a comment") is None


@pytest.mark.parametrize(
    ("line", "hint"),
    [
        ("kick", "kick <player>"),
        ("ban Ana 1h", "needs a reason"),
        ("ban Ana soon cheating", "bad duration"),
        ("ban Ana 0 cheating", "at least one second"),
        ("warn Ana", "warn <player> <reason...>"),
        ("tp Ana 1 2", "tp <player> <x> <y> <z>"),
        ("tp Ana 1 2 nan", "finite"),
        ("tp Ana 1 two 3", "must be a number"),
        ("give Ana -5 oops", "at least 1"),
        ("npc spawn 1 2 3 colour=red", "name=..."),
        ("npc fly 3", "npc spawn|despawn"),
        ("npc remember 12 fact 80", "npc remember <npc>"),
        ("npc remember 12 fact 0.8 x", "whole number"),
        ("npcs 1 2", "npcs \\[<x>"),
        ("relation a b 0.5", "whole number"),
        ("raw players.kick [1]", "JSON object"),
        ("raw players.kick {oops", "not valid JSON"),
        ("frobnicate Ana", "unknown command"),
    ],
)
def test_mistakes_say_how_to_write_the_command(line: str, hint: str) -> None:
    with pytest.raises(UsageError, match=hint.replace("|", r"\|").replace("...", r"\.\.\.")):
        parse(line)


def test_durations() -> None:
    assert duration("90") == 90
    assert duration("90s") == 90
    assert duration("30m") == 1800
    assert duration("1d12h") == 129600
    assert duration("2W") == 2 * 604800
    assert duration("perm") is None and duration("forever") is None
    for bad in ("1h30", "h", "-5m", "1.5h", "1y"):
        with pytest.raises(UsageError):
            duration(bad)


names = st.text(
    alphabet=st.characters(blacklist_categories=("Cs", "Cc"), blacklist_characters='"\\'),
    min_size=1,
    max_size=24,
).filter(lambda s: s.strip() == s and not s.isdigit())
reasons = (
    st.text(alphabet=st.characters(blacklist_categories=("Cs", "Cc")), min_size=1, max_size=80)
    .map(str.strip)
    .filter(bool)
)


@given(name=names, reason=reasons, seconds=st.integers(1, 10**8))
def test_any_name_and_reason_survive_quoting(name: str, reason: str, seconds: int) -> None:
    got = call(f'ban "{name}" {seconds} {reason}')
    want = reason
    quoted = len(reason) >= 2 and reason[0] == reason[-1] and reason[0] in "\"'"
    if quoted and reason[0] not in reason[1:-1]:
        want = reason[1:-1]
    assert got.args == {"player": name, "duration_s": seconds, "reason": want}


@given(st.lists(st.text(alphabet="abc.-_=", min_size=1, max_size=8), max_size=6), st.integers(0, 7))
def test_take_splits_unquoted_words_like_str_split(parts: list[str], n: int) -> None:
    line = "  ".join(parts)
    got, rest = take(line, n)
    assert got == parts[:n]
    assert rest.split() == parts[n:]


def test_every_command_has_usage_and_parses_its_own_name() -> None:
    for s in SYNTAX:
        assert s.usage.startswith(s.name) and s.summary
        try:
            parse(s.name)
        except UsageError as err:
            assert "usage" in str(err) or "unknown" not in str(err)
