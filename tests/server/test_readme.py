"""The README does what it says: its bot example, run as written against a real server, and
the commands and numbers it quotes."""

from __future__ import annotations

import asyncio
import re
import shlex
import sys
from pathlib import Path

from config import load_config
from server.cli import build_parser
from tests.server.conftest import ServerFactory

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text()


def bot_snippet() -> str:
    return next(b for b in re.findall(r"```python\n(.*?)```", README, re.S) if "connect(" in b)


async def run_snippet(url: str, *edits: tuple[str, str]) -> tuple[int, str, str]:
    code = bot_snippet().replace("ws://127.0.0.1:22005/ws", url)
    for old, new in edits:
        assert old in code, old
        code = code.replace(old, new)
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        code,
        cwd=ROOT,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 30)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


async def test_readme_bot_snippet_runs(start: ServerFactory) -> None:
    srv = await start(npc_count=100)
    code, out, err = await run_snippet(srv.url)
    assert code == 0, err
    m = re.search(r"I am ([0-9a-f-]{36}); I walked 20 m and can see (\d+) players and NPCs", out)
    assert m, out + err
    assert int(m.group(2)) > 0
    assert srv.state.metrics.errors.labels(code="IMPOSSIBLE_MOVE")._value.get() == 0


async def test_readme_bot_fails_when_its_moves_are_refused(start: ServerFactory) -> None:
    """The same example with 50 m steps (the old README jumped 700 m): the server refuses them,
    and the example must then fail loudly rather than "work"."""
    srv = await start(npc_count=10)
    code, out, err = await run_snippet(srv.url, ("start.x + step,", "start.x + 50 * step,"))
    assert code != 0, out
    assert "the server refused: IMPOSSIBLE_MOVE" in err, err
    assert "I am" not in out


def test_readme_loadtest_fits_the_defaults() -> None:
    """The load-test line a newcomer copies must not ask for more bots than `make run` admits."""
    cfg = load_config()
    lines = re.findall(r"`(?:\.venv/bin/)?(ganggpt-loadtest [^`]*)`", README)
    assert lines
    for line in lines:
        args = shlex.split(line)
        for flag in ("-n", "--bots"):
            if flag in args:
                assert int(args[args.index(flag) + 1]) <= cfg.max_players, line


def test_readme_ganggpt_commands_exist_and_say_what_they_take() -> None:
    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    choices = getattr(sub, "choices", {})
    quoted = re.findall(r"`ganggpt ([a-z]+)( [A-Z]+)?`", README)
    assert {"migrate", "backup", "restore", "config", "healthcheck"} <= {c for c, _ in quoted}
    for cmd, placeholder in quoted:
        assert cmd in choices, cmd
        if placeholder.strip() == "DIR":
            assert "directory" in choices[cmd].format_help(), cmd
