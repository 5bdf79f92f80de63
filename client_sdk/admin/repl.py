"""`ganggpt-admin`: the operator's console for a running GangGPT server.

    ganggpt-admin --url ws://127.0.0.1:22005 --username ana     # interactive, password prompted
    GANGGPT_ADMIN_PASSWORD=... ganggpt-admin -u ana -c players -c "audit 5"
    printf 'players\\nkick 12 afk\\n' | ganggpt-admin -u ana        # commands from stdin

Interactive mode is a prompt_toolkit REPL (history, Tab completion of commands and of live
player names and NPC ids, pushes printed above the prompt); otherwise each command runs in
turn, output goes to stdout (tables, or JSON with --json) and the exit status is 1 if any
command failed. The syntax is in `client_sdk.admin.commands`.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import os
import shutil
import signal
import sys
import time
from collections.abc import AsyncGenerator, Iterable, Iterator
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any, TextIO

import orjson

from client_sdk.admin.commands import (
    BY_NAME,
    DURATION_EXAMPLES,
    SYNTAX,
    TOPICS,
    Call,
    Local,
    Parsed,
    Slot,
    UsageError,
    lookup,
    parse,
    take,
)
from client_sdk.admin.session import AdminError, AdminSession, CommandFailed

PASSWORD_ENV = "GANGGPT_ADMIN_PASSWORD"
USERNAME_ENV = "GANGGPT_ADMIN_USERNAME"
HISTORY_ENV = "GANGGPT_ADMIN_HISTORY"
DEFAULT_URL = "ws://127.0.0.1:22005"
DEFAULT_HISTORY = "~/.ganggpt_admin_history"
NAMES_TTL = 3.0  # seconds a fetched list of names serves completion
NPC_COMPLETIONS = 200  # a city holds thousands; completion offers the first ones


def _version() -> str:
    try:
        return version("ganggpt-server")
    except PackageNotFoundError:
        return "unknown"


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="ganggpt-admin",
        description=(
            "Admin console for a GangGPT server: logs in over HTTP (POST /auth/login), then\n"
            "speaks the admin protocol on the /admin websocket. Interactive when stdin is a\n"
            "terminal; otherwise runs the -c commands, or one command per line of stdin."
        ),
        epilog=(
            "examples:\n"
            "  ganggpt-admin -u ana                       interactive; type help\n"
            "  ganggpt-admin -u ana -c players -c 'audit 10'\n"
            "  echo 'ban Ana 1h cheating' | ganggpt-admin -u ana\n"
            f"the password is read from ${PASSWORD_ENV} or asked for (never echoed)."
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    p.add_argument(
        "--url",
        default=os.environ.get("GANGGPT_ADMIN_URL", DEFAULT_URL),
        help=f"server address, ws:// or wss:// (default {DEFAULT_URL}; env GANGGPT_ADMIN_URL)",
    )
    p.add_argument(
        "-u",
        "--username",
        default=os.environ.get(USERNAME_ENV),
        help=f"account (env {USERNAME_ENV})",
    )
    p.add_argument(
        "-c",
        "--command",
        action="append",
        default=[],
        metavar="CMD",
        help="run this command and exit (repeatable; in order)",
    )
    p.add_argument(
        "--json", action="store_true", help="print each answer's data as one JSON line (scripts)"
    )
    p.add_argument(
        "--history",
        default=os.environ.get(HISTORY_ENV, DEFAULT_HISTORY),
        help=f"history file of the interactive prompt (default {DEFAULT_HISTORY}; env {HISTORY_ENV})",
    )
    p.add_argument(
        "--watch",
        default="events",
        help="topics to print live in interactive mode: metrics,events,players or none (default events)",
    )
    p.add_argument("--no-color", action="store_true", help="plain output (also NO_COLOR=1)")
    p.add_argument(
        "--timeout", type=float, default=15.0, help="seconds to wait for each answer (default 15)"
    )
    return p


# --- output -----------------------------------------------------------------------------------


class Output:
    """Where text goes: stdout for answers, stderr for status in scripts, above the prompt when
    interactive (patch_stdout routes both there)."""

    def __init__(self, *, color: bool, as_json: bool, interactive: bool) -> None:
        from client_sdk.admin.render import Renderer

        width = shutil.get_terminal_size((120, 40)).columns
        self.render = Renderer(color=color, width=width)
        self.as_json = as_json
        self.interactive = interactive

    def _write(self, text: str, stream: TextIO) -> None:
        if self.interactive:
            # Above the prompt when one is showing (erased and redrawn), else straight out:
            # either way in order with what the operator typed.
            from prompt_toolkit import print_formatted_text
            from prompt_toolkit.formatted_text import ANSI

            print_formatted_text(ANSI(text), end="")
        else:
            stream.write(text)
            stream.flush()

    def out(self, text: str) -> None:
        self._write(text, sys.stdout)

    def status(self, text: str) -> None:
        self._write(self.render.note(f"* {text}", "yellow"), sys.stderr)

    def error(self, text: str) -> None:
        self._write(self.render.error(text), sys.stderr)

    def data(self, view: str, cmd: str, data: dict[str, Any]) -> None:
        if self.as_json:
            self.out(orjson.dumps(data).decode() + "\n")
        else:
            self.out(self.render.result(view, cmd, data))

    def push(self, topic: str, data: dict[str, Any]) -> None:
        if self.as_json:
            self.out(orjson.dumps({"topic": topic, "data": data}).decode() + "\n")
        else:
            self.out(self.render.push(topic, data))


# --- completion ------------------------------------------------------------------------------


class Names:
    """Live player names and NPC ids for completion, each list fetched when stale."""

    def __init__(self, session: AdminSession) -> None:
        self.session = session
        self.players: list[tuple[str, str]] = []  # (completion, meta)
        self.npcs: list[tuple[str, str]] = []
        self._at: dict[str, float] = {}
        self._lock = asyncio.Lock()

    async def fresh(self, kind: str) -> None:
        cmd = "players.list" if kind == "player" else "npcs.list"
        if cmd not in self.session.commands:
            return
        async with self._lock:
            if time.monotonic() - self._at.get(kind, -NAMES_TTL) < NAMES_TTL:
                return
            try:
                args = {"limit": NPC_COMPLETIONS} if kind == "npc" else {}
                data = await self.session.call(cmd, args, timeout=5)
            except AdminError:
                return
            if kind == "player":
                self.players = [
                    (str(p["name"]), f"net {p.get('net_id')}")
                    for p in data.get("players", [])
                    if p.get("name")
                ]
            else:
                self.npcs = [
                    (str(n.get("net_id", n.get("npc_id"))), str(n.get("name", "")))
                    for n in data.get("npcs", [])
                ]
            self._at[kind] = time.monotonic()


def _quote(word: str) -> str:
    return f'"{word}"' if (" " in word or not word) else word


def build_completer(session: AdminSession, names: Names) -> Any:
    from prompt_toolkit.completion import CompleteEvent, Completer, Completion
    from prompt_toolkit.document import Document

    def candidates(slot: Slot | None, sub_of: str | None) -> Iterator[tuple[str, str]]:
        if slot == "player":
            yield from ((_quote(n), m) for n, m in names.players)
        elif slot == "npc":
            yield from names.npcs
        elif slot == "duration":
            yield from ((d, "ban length") for d in DURATION_EXAMPLES)
        elif slot == "topic":
            yield from ((t, "topic") for t in TOPICS)
        elif slot == "command":
            yield from ((c, "wire command") for c in session.commands)
        elif slot == "sub" and sub_of is not None:
            yield from ((s, sub_of) for s in BY_NAME[sub_of].subs)

    def slot_at(text: str) -> tuple[Slot | None, str | None]:
        first, rest = take(text, 1)
        syntax = lookup(first[0]) if first else None
        if syntax is None:
            return None, None
        done, _ = take(rest, 10_000)
        index = len(done) if rest.endswith((" ", "\t")) or not rest else len(done) - 1
        slots = syntax.slots
        if syntax.subs and done and index >= 1:
            slots = syntax.subs.get(done[0].lower(), ())
            index -= 1
        if index < len(slots):
            return slots[index], syntax.name
        return None, syntax.name

    class AdminCompleter(Completer):
        def get_completions(
            self, document: Document, complete_event: CompleteEvent
        ) -> Iterable[Completion]:
            text = document.text_before_cursor
            word = document.get_word_before_cursor(WORD=True)
            stripped = word.lstrip("\"'").lower()
            if " " not in text.lstrip():
                allowed = set(session.commands)
                for s in SYNTAX:
                    if s.name.startswith(stripped):
                        dim = bool(s.wire) and not any(w in allowed for w in s.wire)
                        yield Completion(
                            s.name,
                            -len(word),
                            display_meta=s.summary + (" (not permitted)" if dim else ""),
                        )
                if "." in stripped:
                    for c in session.commands:
                        if c.startswith(stripped):
                            yield Completion(c, -len(word), display_meta="wire command")
                return
            slot, sub_of = slot_at(text)
            for value, meta in candidates(slot, sub_of):
                if value.lstrip("\"'").lower().startswith(stripped):
                    yield Completion(value, -len(word), display_meta=meta)

        async def get_completions_async(
            self, document: Document, complete_event: CompleteEvent
        ) -> AsyncGenerator[Completion, None]:
            slot, _ = slot_at(document.text_before_cursor)
            if slot in ("player", "npc"):
                await names.fresh(slot)
            for c in self.get_completions(document, complete_event):
                yield c

    return AdminCompleter()


# --- running commands -------------------------------------------------------------------------


class Console:
    def __init__(self, session: AdminSession, out: Output, timeout: float) -> None:
        self.session = session
        self.out = out
        self.timeout = timeout
        self.failures = 0

    async def run_line(self, line: str) -> bool:
        """Run one line; False when the operator asked to leave."""
        try:
            parsed: Parsed | None = parse(line)
        except UsageError as err:
            self.failures += 1
            self.out.error(str(err))
            return True
        if parsed is None:
            return True
        if isinstance(parsed, Local):
            return await self._local(parsed)
        await self._call(parsed)
        return True

    async def _call(self, call: Call) -> None:
        try:
            data = await self.session.call(call.cmd, call.args, timeout=self.timeout)
        except CommandFailed as err:
            self.failures += 1
            self.out.error(f"{call.cmd}: {err.code}: {err}")
            return
        except AdminError as err:
            self.failures += 1
            self.out.error(f"{call.cmd}: {err}")
            return
        self.out.data(call.view, call.cmd, data)

    async def _local(self, local: Local) -> bool:
        action, words = local.action, local.words
        if action == "quit":
            return False
        if action == "help":
            only = lookup(words[0]) if words else None
            if words and only is None:
                self.out.error(f"no command {words[0]!r}; type help")
                self.failures += 1
            else:
                self.out.out(self.out.render.help(self.session.commands or None, only))
            return True
        if action == "commands":
            self.out.data("data", "commands", {"commands": self.session.commands})
            return True
        topics = [w.lower() for w in words]
        bad = [t for t in topics if t not in TOPICS]
        if not topics or bad:
            self.failures += 1
            self.out.error(f"usage: {action} {'|'.join(TOPICS)} ...")
            return True
        try:
            if action == "watch":
                now = await self.session.subscribe(topics)
            else:
                now = await self.session.unsubscribe(topics)
        except AdminError as err:
            self.failures += 1
            self.out.error(f"{action}: {err}")
            return True
        self.out.status(f"watching: {', '.join(now) or 'nothing'}")
        return True


async def _interactive(console: Console, args: argparse.Namespace, label: str) -> None:
    from prompt_toolkit import PromptSession
    from prompt_toolkit.formatted_text import ANSI
    from prompt_toolkit.history import FileHistory, InMemoryHistory
    from prompt_toolkit.patch_stdout import patch_stdout

    session = console.session
    history_path = Path(args.history).expanduser()
    try:
        history_path.parent.mkdir(parents=True, exist_ok=True)
        history_path.touch(mode=0o600, exist_ok=True)
        history: FileHistory | InMemoryHistory = FileHistory(str(history_path))
    except OSError as err:
        console.out.status(f"history off ({history_path}: {err.strerror})")
        history = InMemoryHistory()
    names = Names(session)
    prompt: PromptSession[str] = PromptSession(
        history=history,
        completer=build_completer(session, names),
        complete_while_typing=False,
        enable_history_search=True,
    )
    color = console.out.render.color

    def message() -> ANSI:
        state = "" if session.connected else " (offline)"
        if not color:
            return ANSI(f"{label}{state}> ")
        return ANSI(f"\x1b[1;32m{label}\x1b[0m\x1b[33m{state}\x1b[0m> ")

    with patch_stdout(raw=True):
        console.out.status(
            f"connected as {session.authed.get('username', session.username)} "
            f"(role {session.authed.get('role', '?')}, {len(session.commands)} commands); "
            "type help, Tab completes"
        )
        watch = [t for t in args.watch.split(",") if t and t != "none"]
        if watch:
            await console._local(Local("watch", tuple(watch)))
        while True:
            try:
                line = await prompt.prompt_async(message)
            except KeyboardInterrupt:
                continue
            except EOFError:
                break
            # Ctrl-C while a command waits gives the prompt back instead of leaving.
            running = asyncio.ensure_future(console.run_line(line))
            loop = asyncio.get_running_loop()
            loop.add_signal_handler(signal.SIGINT, running.cancel)
            try:
                go_on = await running
            except asyncio.CancelledError:
                if not running.cancelled():
                    raise
                console.out.status("interrupted")
                go_on = True
            finally:
                loop.remove_signal_handler(signal.SIGINT)
            if not go_on:
                break
            if session.ended is not None:
                console.out.error(f"{session.ended}; leaving")
                break


async def _batch(console: Console, lines: Iterable[str]) -> None:
    for line in lines:
        if not await console.run_line(line):
            break


def _password() -> str | None:
    """From the environment, else asked on the terminal. Without a terminal getpass would read
    stdin instead, eating a script's first command as the password: refuse that."""
    given = os.environ.get(PASSWORD_ENV)
    if given:
        return given
    try:
        with open("/dev/tty"):
            pass
    except OSError:
        return None
    return getpass.getpass("password: ")


async def _run(args: argparse.Namespace, interactive: bool, out: Output, password: str) -> int:
    session = AdminSession(
        args.url, args.username, password, on_push=out.push, on_status=out.status
    )
    try:
        await session.start()
    except AdminError as err:
        out.error(str(err))
        return 2
    console = Console(session, out, args.timeout)
    try:
        if args.command:
            await _batch(console, args.command)
        elif interactive:
            host = session.ws_url.split("://", 1)[1].removesuffix("/admin")
            await _interactive(console, args, f"{args.username}@{host}")
        else:
            lines = await asyncio.to_thread(sys.stdin.readlines)
            await _batch(console, lines)
    finally:
        await session.close()
    # A script's status says whether every command worked; a person read the errors already.
    return 1 if console.failures and not interactive else 0


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    interactive = not args.command and sys.stdin.isatty()
    color = (
        not args.no_color
        and not os.environ.get("NO_COLOR")
        and sys.stdout.isatty()
        and not args.json
    )
    out = Output(color=color, as_json=args.json, interactive=interactive)
    if not args.username:
        if not interactive:
            out.error(f"give --username (or set {USERNAME_ENV})")
            return 2
        try:
            args.username = input("username: ").strip()
        except (EOFError, KeyboardInterrupt):
            return 2
        if not args.username:
            return 2
    try:
        password = _password()
    except (EOFError, KeyboardInterrupt):
        return 2
    if not password:
        out.error(f"no password: set {PASSWORD_ENV} or run from a terminal")
        return 2
    try:
        return asyncio.run(_run(args, interactive, out, password))
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
