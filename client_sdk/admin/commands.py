"""The console's readable syntax, turned into the admin wire commands (protocol/SPEC.md,
"Admin console"). Pure: no I/O, so the grammar is tested on its own.

    kick Ana spamming the chat      -> players.kick {"player": "Ana", "reason": "spamming the chat"}
    ban Ana 1h cheating             -> players.ban  {"player": "Ana", "duration_s": 3600, ...}
    ban "Big Ana" perm griefing     -> players.ban  {"player": "Big Ana", "duration_s": null, ...}
    tp 12 100 200 30                -> players.teleport {"player": 12, "x": 100.0, ...}
    raw npcs.edit {"npc": 3, "memory_delete": 9}

A player is named by display name, player id or net id (digits are sent as the net id, which
the server tries before names); quote names that hold spaces. Free text (reasons, notes,
announcements) is the rest of the line, verbatim, so apostrophes need no quoting.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

import orjson


class UsageError(ValueError):
    """The line does not fit the command's syntax; the message says how to write it."""


@dataclass(frozen=True, slots=True)
class Call:
    """One wire command to send; `view` picks how its answer is shown."""

    cmd: str
    args: dict[str, Any]
    view: str = "data"


@dataclass(frozen=True, slots=True)
class Local:
    """Something the console does itself (help, quit, watch, ...)."""

    action: str
    words: tuple[str, ...] = ()


Parsed = Call | Local

# What each positional slot holds, for completion.
Slot = Literal["player", "npc", "duration", "topic", "command", "word", "number", "text", "sub"]

TOPICS = ("metrics", "events", "players")


@dataclass(frozen=True, slots=True)
class Syntax:
    name: str
    usage: str
    summary: str
    wire: tuple[str, ...]  # the wire commands it may send (for permission hints)
    parse: Callable[[str], Parsed]
    slots: tuple[Slot, ...] = ()
    subs: dict[str, tuple[Slot, ...]] = field(default_factory=dict)


# --- tokenising -------------------------------------------------------------------------------

_TOKEN = re.compile(r"""\s*(?:"((?:[^"\\]|\\.)*)"|'([^']*)'|(\S+))""")


def take(text: str, n: int) -> tuple[list[str], str]:
    """The first `n` words of `text` (double- or single-quoted words may hold spaces) and the
    rest of the line, stripped. Fewer than `n` words come back as they are."""
    words: list[str] = []
    pos = 0
    while len(words) < n:
        m = _TOKEN.match(text, pos)
        if m is None or m.end() == pos:
            break
        dq, sq, bare = m.groups()
        if dq is not None:
            words.append(re.sub(r"\\(.)", r"\1", dq))
        elif sq is not None:
            words.append(sq)
        else:
            words.append(bare)
        pos = m.end()
    return words, text[pos:].strip()


def words(text: str) -> list[str]:
    out, _ = take(text, 10_000)
    return out


def _free_text(rest: str) -> str:
    """Free text as typed; one fully quoted string loses its quotes."""
    if len(rest) >= 2 and rest[0] == rest[-1] and rest[0] in "\"'":
        inner = rest[1:-1]
        if rest[0] not in inner:
            return inner
    return rest


def player_ref(word: str) -> str | int:
    """Digits are a net id; anything else a player id or display name (the server resolves)."""
    return int(word) if word.isdigit() else word


def number(word: str, what: str) -> float:
    try:
        value = float(word)
    except ValueError:
        raise UsageError(f"{what} must be a number, not {word!r}") from None
    if value != value or value in (float("inf"), float("-inf")):
        raise UsageError(f"{what} must be a finite number")
    return value


def integer(word: str, what: str, *, minimum: int | None = 0) -> int:
    try:
        value = int(word)
    except ValueError:
        raise UsageError(f"{what} must be a whole number, not {word!r}") from None
    if minimum is not None and value < minimum:
        raise UsageError(f"{what} must be at least {minimum}")
    return value


_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_DURATION = re.compile(r"(\d+)([smhdw])")
PERMANENT = ("perm", "permanent", "forever", "never")
DURATION_EXAMPLES = ("30m", "1h", "12h", "1d", "7d", "30d", "perm")


def duration(word: str) -> int | None:
    """`90s`, `30m`, `1h`, `2d`, `1w`, `1d12h`, bare seconds, or `perm` (None = for good)."""
    w = word.lower()
    if w in PERMANENT:
        return None
    if w.isdigit():
        seconds = int(w)
    else:
        parts = _DURATION.findall(w)
        if not parts or "".join(n + u for n, u in parts) != w:
            raise UsageError(
                f"bad duration {word!r}: write e.g. 90s, 30m, 1h, 2d, 1w, 1d12h, or perm"
            )
        seconds = sum(int(n) * _UNITS[u] for n, u in parts)
    if seconds <= 0:
        raise UsageError("a ban lasts at least one second (or write perm)")
    return seconds


def json_object(text: str, what: str = "arguments") -> dict[str, Any]:
    if not text:
        return {}
    try:
        value = orjson.loads(text)
    except orjson.JSONDecodeError as err:
        raise UsageError(f"{what} are not valid JSON: {err}") from None
    if not isinstance(value, dict):
        raise UsageError(f'{what} must be a JSON object, like {{"player": "Ana"}}')
    return value


def key_values(items: list[str], allowed: tuple[str, ...]) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or key not in allowed:
            raise UsageError(f"expected {'/'.join(k + '=...' for k in allowed)}, not {item!r}")
        out[key] = value
    return out


# --- the commands -----------------------------------------------------------------------------


def _need(got: list[str], n: int, usage: str) -> None:
    if len(got) < n:
        raise UsageError(f"usage: {usage}")


def _players(rest: str) -> Parsed:
    return Call("players.list", {}, "players")


def _inspect(rest: str) -> Parsed:
    got, _ = take(rest, 1)
    _need(got, 1, "inspect <player>")
    return Call("players.inspect", {"player": player_ref(got[0])}, "inspect")


def _with_reason(cmd: str, usage: str, *, reason_required: bool) -> Callable[[str], Parsed]:
    def parse(rest: str) -> Parsed:
        got, text = take(rest, 1)
        _need(got, 1, usage)
        reason = _free_text(text)
        if reason_required and not reason:
            raise UsageError(f"usage: {usage}")
        return Call(cmd, {"player": player_ref(got[0]), "reason": reason})

    return parse


def _ban(rest: str) -> Parsed:
    usage = "ban <player|account=ID> <duration|perm> <reason...>"
    got, text = take(rest, 2)
    _need(got, 2, usage)
    reason = _free_text(text)
    if not reason:
        raise UsageError(f"usage: {usage} (a ban needs a reason)")
    who: dict[str, Any] = (
        {"account": got[0].removeprefix("account=")}  # offline: by account id
        if got[0].startswith("account=")
        else {"player": player_ref(got[0])}
    )
    return Call("players.ban", {**who, "reason": reason, "duration_s": duration(got[1])})


def _unban(rest: str) -> Parsed:
    got, _ = take(rest, 1)
    _need(got, 1, "unban <account>")
    return Call("players.unban", {"account": got[0]})


def _notes(rest: str) -> Parsed:
    got, text = take(rest, 1)
    _need(got, 1, "notes <player> [text...]")
    args: dict[str, Any] = {"player": player_ref(got[0])}
    if text:
        args["text"] = _free_text(text)
    return Call("players.notes", args, "notes")


def _announce(rest: str) -> Parsed:
    text = _free_text(rest)
    if not text:
        raise UsageError("usage: announce <text...>")
    return Call("announce", {"text": text})


def _tp(rest: str) -> Parsed:
    got, _ = take(rest, 4)
    _need(got, 4, "tp <player> <x> <y> <z>")
    x, y, z = (number(w, a) for w, a in zip(got[1:], "xyz", strict=True))
    return Call("players.teleport", {"player": player_ref(got[0]), "x": x, "y": y, "z": z})


def _money(cmd: str, verb: str) -> Callable[[str], Parsed]:
    usage = f"{verb} <player> <amount> <reason...>"

    def parse(rest: str) -> Parsed:
        got, text = take(rest, 2)
        _need(got, 2, usage)
        amount = integer(got[1], "amount", minimum=1)
        reason = _free_text(text)
        if not reason:
            raise UsageError(f"usage: {usage}")
        return Call(cmd, {"player": player_ref(got[0]), "amount": amount, "reason": reason})

    return parse


def _npc_ref(word: str) -> str | int:
    return int(word) if word.isdigit() else word


def _npcs(rest: str) -> Parsed:
    got = words(rest)
    args: dict[str, Any] = {}
    if got and got[-1].startswith("limit="):
        args["limit"] = integer(got.pop().removeprefix("limit="), "limit", minimum=1)
    if got:
        if len(got) != 3:
            raise UsageError("usage: npcs [<x> <y> <radius>] [limit=N]")
        x, y, radius = (number(w, a) for w, a in zip(got, ("x", "y", "radius"), strict=True))
        args["near"] = {"x": x, "y": y, "radius": radius}
    return Call("npcs.list", args, "npcs")


def _npc(rest: str) -> Parsed:
    got, text = take(rest, 2)
    sub = got[0].lower() if got else ""
    if sub == "spawn":
        spawn = words(rest)[1:]
        _need(spawn, 3, "npc spawn <x> <y> <z> [name=...] [role=...] [faction=...]")
        args: dict[str, Any] = {a: number(w, a) for w, a in zip(spawn[:3], "xyz", strict=True)}
        args.update(key_values(spawn[3:], ("name", "role", "faction", "personality")))
        return Call("npcs.spawn", args)
    if sub in ("despawn", "inspect", "edit"):
        _need(got, 2, f"npc {sub} <npc>" + (" <json>" if sub == "edit" else ""))
        npc = _npc_ref(got[1])
        if sub == "despawn":
            return Call("npcs.despawn", {"npc": npc})
        if sub == "inspect":
            return Call("npcs.inspect", {"npc": npc}, "npc")
        edit = json_object(text, "the edit")
        if not edit:
            raise UsageError('usage: npc edit <npc> {"memory_add": {...}} (see SPEC npcs.edit)')
        return Call("npcs.edit", {"npc": npc, **edit}, "npc")
    if sub == "remember":
        usage = "npc remember <npc> <type> <weight> <content...>"
        more, content = take(rest, 4)
        _need(more, 4, usage)
        content = _free_text(content)
        if not content:
            raise UsageError(f"usage: {usage}")
        weight = integer(more[3], "weight (0-100)", minimum=0)
        memory = {"type": more[2], "weight": weight, "content": content}
        return Call("npcs.edit", {"npc": _npc_ref(more[1]), "memory_add": memory}, "npc")
    if sub == "forget":
        more, _ = take(rest, 3)
        _need(more, 3, "npc forget <npc> <memory_id>")
        return Call("npcs.edit", {"npc": _npc_ref(more[1]), "memory_delete": more[2]}, "npc")
    if sub == "list":
        return _npcs(text if len(got) < 2 else f"{got[1]} {text}")
    raise UsageError("usage: npc spawn|despawn|inspect|remember|forget|edit|list ...")


def _factions(rest: str) -> Parsed:
    return Call("factions.list", {}, "factions")


def _relation(rest: str) -> Parsed:
    got, _ = take(rest, 3)
    _need(got, 3, "relation <faction a> <faction b> <strength>")
    return Call(
        "factions.set_relation",
        {"a": got[0], "b": got[1], "strength": integer(got[2], "strength", minimum=None)},
    )


def _mission(rest: str) -> Parsed:
    got, _ = take(rest, 1)
    _need(got, 1, "mission <player>")
    return Call("missions.generate", {"player": player_ref(got[0])})


def _missions(rest: str) -> Parsed:
    args: dict[str, Any] = {}
    for w in words(rest):
        if w.isdigit() and "limit" not in args:
            args["limit"] = integer(w, "count", minimum=1)
        elif "player" not in args:
            args["player"] = player_ref(w.removeprefix("player="))
        else:
            raise UsageError("usage: missions [n] [player]")
    return Call("missions.feed", args, "missions")


def _restart(rest: str) -> Parsed:
    got, text = take(rest, 1)
    _need(got, 1, "restart <seconds> [message...] | restart cancel")
    if got[0].lower() == "cancel":
        return Call("server.restart_cancel", {})
    args: dict[str, Any] = {"in_s": integer(got[0], "seconds", minimum=0)}
    if text:
        args["message"] = _free_text(text)
    return Call("server.restart", args)


def _metrics(rest: str) -> Parsed:
    return Call("server.metrics", {}, "metrics")


def _audit(rest: str) -> Parsed:
    got = words(rest)
    args: dict[str, Any] = {}
    for w in got:
        if w.isdigit():
            args["limit"] = integer(w, "count", minimum=1)
        else:
            args.update(key_values([w], ("actor", "action")))
    return Call("audit.list", args, "audit")


def _tail(rest: str) -> Parsed:
    got = words(rest)
    args = {"n": integer(got[0], "count", minimum=1)} if got else {}
    return Call("logs.tail", args, "events")


def _raw(rest: str) -> Parsed:
    got, text = take(rest, 1)
    _need(got, 1, "raw <command> [json args]")
    return Call(got[0], json_object(text), "data")


def _local(action: str) -> Callable[[str], Parsed]:
    def parse(rest: str) -> Parsed:
        return Local(action, tuple(words(rest)))

    return parse


SYNTAX: tuple[Syntax, ...] = (
    Syntax("players", "players", "list connected players", ("players.list",), _players),
    Syntax(
        "inspect",
        "inspect <player>",
        "position, ping, money, violations, notes, warnings, bans",
        ("players.inspect",),
        _inspect,
        ("player",),
    ),
    Syntax(
        "kick",
        "kick <player> [reason...]",
        "disconnect a player (close 4011)",
        ("players.kick",),
        _with_reason("players.kick", "kick <player> [reason...]", reason_required=False),
        ("player", "text"),
    ),
    Syntax(
        "warn",
        "warn <player> <reason...>",
        "warn a player (they see it in game)",
        ("players.warn",),
        _with_reason("players.warn", "warn <player> <reason...>", reason_required=True),
        ("player", "text"),
    ),
    Syntax(
        "ban",
        "ban <player|account=ID> <duration|perm> <reason...>",
        "ban for 30m/1h/7d/... or for good; disconnects at once",
        ("players.ban",),
        _ban,
        ("player", "duration", "text"),
    ),
    Syntax("unban", "unban <account>", "lift an account's ban", ("players.unban",), _unban),
    Syntax(
        "notes",
        "notes <player> [text...]",
        "read a player's notes, or add one",
        ("players.notes",),
        _notes,
        ("player", "text"),
    ),
    Syntax("announce", "announce <text...>", "broadcast to every player", ("announce",), _announce),
    Syntax(
        "tp",
        "tp <player> <x> <y> <z>",
        "teleport a player",
        ("players.teleport",),
        _tp,
        ("player", "number", "number", "number"),
    ),
    Syntax(
        "give",
        "give <player> <amount> <reason...>",
        "give money",
        ("economy.give",),
        _money("economy.give", "give"),
        ("player", "number", "text"),
    ),
    Syntax(
        "take",
        "take <player> <amount> <reason...>",
        "take money",
        ("economy.take",),
        _money("economy.take", "take"),
        ("player", "number", "text"),
    ),
    Syntax(
        "npcs",
        "npcs [<x> <y> <radius>] [limit=N]",
        "list NPCs (near a point)",
        ("npcs.list",),
        _npcs,
    ),
    Syntax(
        "npc",
        "npc spawn|despawn|inspect|remember|forget|edit ...",
        "npc spawn <x> <y> <z> [name=..] [role=..] [faction=..] [personality=..];"
        " npc despawn|inspect <npc>; npc remember <npc> <type> <weight 0-100> <content...>;"
        " npc forget <npc> <memory_id>;"
        " npc edit <npc> <json> (memory, persona, relationships)",
        ("npcs.spawn", "npcs.despawn", "npcs.inspect", "npcs.edit"),
        _npc,
        ("sub", "npc"),
        {
            "spawn": ("number", "number", "number"),
            "despawn": ("npc",),
            "inspect": ("npc",),
            "edit": ("npc", "text"),
            "remember": ("npc", "word", "number", "text"),
            "forget": ("npc", "word"),
            "list": (),
        },
    ),
    Syntax("factions", "factions", "factions and their relations", ("factions.list",), _factions),
    Syntax(
        "relation",
        "relation <a> <b> <strength>",
        "set the relation between two factions",
        ("factions.set_relation",),
        _relation,
        ("word", "word", "number"),
    ),
    Syntax(
        "mission",
        "mission <player>",
        "generate a mission for a player",
        ("missions.generate",),
        _mission,
        ("player",),
    ),
    Syntax(
        "missions",
        "missions [n] [player]",
        "recent missions (of one player)",
        ("missions.feed",),
        _missions,
        ("number", "player"),
    ),
    Syntax(
        "restart",
        "restart <seconds> [message...] | restart cancel",
        "schedule a restart (players warned at 60/30/10 s), or cancel it",
        ("server.restart", "server.restart_cancel"),
        _restart,
        ("sub",),
        {"cancel": ()},
    ),
    Syntax(
        "metrics", "metrics", "tick, latency, players, AI figures", ("server.metrics",), _metrics
    ),
    Syntax(
        "audit",
        "audit [n] [actor=..] [action=..]",
        "the audit log, newest first",
        ("audit.list",),
        _audit,
    ),
    Syntax("tail", "tail [n]", "the last game/admin events", ("logs.tail",), _tail),
    Syntax(
        "watch",
        "watch metrics|events|players ...",
        "print live pushes of these topics",
        (),
        _local("watch"),
        ("topic", "topic", "topic"),
    ),
    Syntax(
        "unwatch",
        "unwatch metrics|events|players ...",
        "stop printing these topics",
        (),
        _local("unwatch"),
        ("topic", "topic", "topic"),
    ),
    Syntax(
        "raw",
        "raw <command> [json]",
        'send any wire command, e.g. raw players.inspect {"player": "Ana"}',
        (),
        _raw,
        ("command", "text"),
    ),
    Syntax("commands", "commands", "the wire commands you may run", (), _local("commands")),
    Syntax("help", "help [command]", "this list, or one command's syntax", (), _local("help")),
    Syntax("quit", "quit", "leave (also exit, Ctrl-D)", (), _local("quit")),
)

BY_NAME: dict[str, Syntax] = {s.name: s for s in SYNTAX}
ALIASES: dict[str, str] = {
    "list": "players",
    "who": "players",
    "exit": "quit",
    "teleport": "tp",
    "broadcast": "announce",
    "say": "announce",
    "?": "help",
}


def lookup(name: str) -> Syntax | None:
    name = name.lower()
    return BY_NAME.get(ALIASES.get(name, name))


def parse(line: str) -> Parsed | None:
    """One console line -> what to do; None for a blank line or a comment."""
    line = line.strip()
    if not line or line.startswith("#"):
        return None
    got, rest = take(line, 1)
    syntax = lookup(got[0])
    if syntax is None:
        if "." in got[0]:  # a wire name typed as is: `players.inspect {"player": "Ana"}`
            return Call(got[0], json_object(rest), "data")
        raise UsageError(f"unknown command {got[0]!r}; type help")
    return syntax.parse(rest)
