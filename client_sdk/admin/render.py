"""How answers and pushes look: rich tables for lists, key/value panels for one record.

Everything renders to a string first (ANSI when colour is on) so the REPL can print it above
the prompt without tearing it, and scripts get plain text.
"""

from __future__ import annotations

import io
import time
from collections.abc import Iterable, Sequence
from typing import Any

import orjson
from rich.console import Console, RenderableType
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from client_sdk.admin.commands import SYNTAX, Syntax


class Renderer:
    def __init__(self, *, color: bool, width: int | None = None) -> None:
        self.color = color
        self.width = width

    def to_text(self, *items: RenderableType) -> str:
        buf = io.StringIO()
        console = Console(
            file=buf,
            force_terminal=self.color,
            no_color=not self.color,
            color_system="standard" if self.color else None,
            width=self.width or 120,
            highlight=False,
            soft_wrap=False,
        )
        for item in items:
            console.print(item)
        return buf.getvalue()

    # --- answers ------------------------------------------------------------------------------

    def result(self, view: str, cmd: str, data: dict[str, Any]) -> str:
        show = getattr(self, f"_view_{view}", None)
        if show is not None:
            return self.to_text(*show(data))
        return self.to_text(*self._generic(cmd, data))

    def error(self, text: str) -> str:
        return self.to_text(Text(f"error: {text}", style="bold red"))

    def note(self, text: str, style: str = "dim") -> str:
        return self.to_text(Text(text, style=style))

    def _generic(self, cmd: str, data: dict[str, Any]) -> list[RenderableType]:
        for key, value in data.items():  # a single list reads best as a table
            if len(data) == 1 and isinstance(value, list) and value:
                return [_table(value, title=key)]
        if all(not isinstance(v, list | dict) for v in data.values()) and len(data) <= 4:
            return [  # a short acknowledgement reads best on one line
                Text.assemble(
                    ("ok ", "bold green"),
                    (cmd, "bold"),
                    *((f" {k}={_ack(k, v)}", "") for k, v in data.items()),
                )
            ]
        return [_kv(data, title=cmd)]

    def _view_players(self, data: dict[str, Any]) -> list[RenderableType]:
        players = data.get("players") or []
        table = Table(title=f"{len(players)} player(s)", title_justify="left")
        right = {"net", "x", "y", "z", "ping", "viol."}
        for col in ("net", "name", "account", "x", "y", "z", "ping", "viol.", "player id"):
            table.add_column(
                col,
                justify="right" if col in right else "left",
                style="cyan" if col == "name" else None,
            )
        for p in players:
            violations = p.get("violations", 0)
            score = violations.get("score", 0) if isinstance(violations, dict) else violations
            table.add_row(
                _s(p.get("net_id")),
                escape(_s(p.get("name"))) + (" [dim](guest)[/]" if p.get("guest") else ""),
                escape(_s(p.get("account"))),
                _num(p.get("x")),
                _num(p.get("y")),
                _num(p.get("z")),
                _s(p.get("ping_ms")) + " ms" if p.get("ping_ms") is not None else "",
                f"[red]{score}[/]" if score else "0",
                escape(_s(p.get("player_id"))),
            )
        return [table]

    def _view_audit(self, data: dict[str, Any]) -> list[RenderableType]:
        rows = data.get("rows") or []
        table = Table(title=f"audit: {len(rows)} row(s)", title_justify="left")
        for col in ("id", "when", "actor", "action", "target", "args", "result"):
            table.add_column(col, overflow="fold")
        for r in rows:
            result = _s(r.get("result"))
            table.add_row(
                _s(r.get("id")),
                _when(r.get("at")),
                escape(_s(r.get("actor"))),
                f"[bold]{escape(_s(r.get('action')))}[/]",
                escape(_s(r.get("target"))),
                escape(_compact(r.get("args"))),
                f"[green]{escape(result)}[/]" if result == "ok" else f"[red]{escape(result)}[/]",
            )
        return [table]

    def _view_npcs(self, data: dict[str, Any]) -> list[RenderableType]:
        npcs = data.get("npcs") or []
        out: list[RenderableType] = [_table(npcs, title="NPCs")]
        total = data.get("total")
        if isinstance(total, int) and total > len(npcs):
            out.append(Text(f"{len(npcs)} of {total} shown (limit=N, or npcs x y radius)", "dim"))
        return out

    def _view_events(self, data: dict[str, Any]) -> list[RenderableType]:
        events = data.get("events") or []
        return [Text.from_ansi(self.push("events", e).rstrip("\n")) for e in events] or [
            Text("no events", style="dim")
        ]

    def _view_missions(self, data: dict[str, Any]) -> list[RenderableType]:
        return [_table(data.get("missions") or [], title="missions")]

    def _view_notes(self, data: dict[str, Any]) -> list[RenderableType]:
        notes = data.get("notes") or []
        return [_table(notes, title="notes")] if _records(notes) else [_kv(data, title="notes")]

    def _view_factions(self, data: dict[str, Any]) -> list[RenderableType]:
        out: list[RenderableType] = [_table(data.get("factions") or [], title="factions")]
        if data.get("relations"):
            out.append(_table(data["relations"], title="relations"))
        return out

    def _view_inspect(self, data: dict[str, Any], title: str = "") -> list[RenderableType]:
        head = {k: v for k, v in data.items() if not isinstance(v, list | dict)}
        out: list[RenderableType] = [
            Text(title or _s(data.get("name", "player")), style="bold"),
            _kv(head, title=None),
        ]
        empty: list[str] = []
        for key, value in data.items():
            if isinstance(value, dict):
                out.append(_kv(value, title=key))
            elif isinstance(value, list) and value:
                out.append(_table(value, title=key))
            elif isinstance(value, list):
                empty.append(key)
        if empty:
            out.append(Text(f"no {', no '.join(empty)}", style="dim"))
        return out

    def _view_npc(self, data: dict[str, Any]) -> list[RenderableType]:
        persona = data.get("persona")
        name = persona.get("name") if isinstance(persona, dict) else None
        return self._view_inspect(data, title=f"NPC {data.get('net_id', '')} {_s(name)}".strip())

    def _view_metrics(self, data: dict[str, Any]) -> list[RenderableType]:
        return [_kv(_flatten(data), title="metrics")]

    # --- pushes -------------------------------------------------------------------------------

    def push(self, topic: str, data: dict[str, Any]) -> str:
        at = data.get("at")
        stamp = time.strftime(
            "%H:%M:%S", time.localtime(at if isinstance(at, int | float) else None)
        )
        if topic == "metrics":
            flat = _flatten(data)
            body = "  ".join(
                f"{k}={_num(v) if isinstance(v, float) else v}" for k, v in flat.items()
            )
            return self.to_text(Text.assemble((f"{stamp} ", "dim"), ("metrics ", "magenta"), body))
        kind = _s(data.get("kind") or data.get("change") or data.get("type") or topic)
        skip = ("kind", "change", "type", "at", "seq")
        rest = {k: v for k, v in data.items() if k not in skip}
        style = "yellow" if any(w in kind for w in ("kick", "ban", "warn")) else "blue"
        return self.to_text(
            Text.assemble(
                (f"{stamp} ", "dim"),
                (f"{topic}:{kind} ", style),
                ", ".join(f"{k}={_compact(v)}" for k, v in rest.items()),
            )
        )

    # --- help ---------------------------------------------------------------------------------

    def help(self, allowed: Iterable[str] | None, only: Syntax | None = None) -> str:
        rows: Sequence[Syntax] = [only] if only else SYNTAX
        allowed_set = set(allowed) if allowed is not None else None
        table = Table(title="commands" if only is None else None, show_header=only is None)
        table.add_column("syntax", style="bold")
        table.add_column("what it does")
        for s in rows:
            permitted = allowed_set is None or not s.wire or any(w in allowed_set for w in s.wire)
            table.add_row(
                Text(s.usage, style="bold" if permitted else "dim strike"),
                Text(
                    s.summary + ("" if permitted else " (not permitted)"),
                    style="" if permitted else "dim",
                ),
            )
        footer = Text(
            "players: name, net id or player id (quote names with spaces). "
            "Tab completes commands and live names.",
            style="dim",
        )
        return self.to_text(table, footer) if only is None else self.to_text(table)


def _s(value: Any) -> str:
    return "" if value is None else str(value)


def _num(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.1f}"
    return _s(value)


def _when(value: Any) -> str:
    if isinstance(value, int | float):
        return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(value))
    return _s(value)


def _compact(value: Any) -> str:
    if isinstance(value, str):
        return value
    if value is None:
        return ""
    return orjson.dumps(value).decode()


def _ack(key: str, value: Any) -> str:
    if key in TIME_KEYS and isinstance(value, int | float) and value > 1e9:
        return _when(value).replace(" ", "T")
    return value if isinstance(value, str) else orjson.dumps(value).decode()


def _records(value: list[Any]) -> bool:
    return bool(value) and all(isinstance(v, dict) for v in value)


def _flatten(data: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in data.items():
        if isinstance(value, dict):
            out.update(_flatten(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def _table(rows: list[Any], *, title: str) -> Table:
    table = Table(title=f"{title} ({len(rows)})", title_justify="left")
    if not _records(rows):
        table.add_column(title)
        for r in rows:
            table.add_row(escape(_compact(r)))
        return table
    columns: list[str] = []
    for r in rows:
        columns.extend(k for k in r if k not in columns)
    for col in columns:
        table.add_column(col, overflow="fold")
    for r in rows:
        table.add_row(*(escape(_cell(c, r.get(c))) for c in columns))
    return table


TIME_KEYS = frozenset({"at", "created_at", "expires_at", "until", "updated_at", "when"})


def _cell(key: str, value: Any) -> str:
    """One value as shown: unix times under time-like keys as local times, floats rounded."""
    if key in TIME_KEYS and isinstance(value, int | float) and value > 1e9:
        return _when(value)
    if isinstance(value, list | dict):
        return _compact(value)
    return _num(value)


def _kv(data: dict[str, Any], *, title: str | None) -> Table:
    table = Table(title=title, title_justify="left", show_header=False)
    table.add_column("key", style="bold cyan")
    table.add_column("value", overflow="fold")
    for key, value in data.items():
        table.add_row(escape(str(key)), escape(_cell(str(key), value)))
    return table
