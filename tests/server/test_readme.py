"""The README's bot example works as written, against a real server."""

from __future__ import annotations

import asyncio
import re
import sys
from pathlib import Path

from tests.server.conftest import ServerFactory

ROOT = Path(__file__).resolve().parents[2]


async def test_readme_bot_snippet_runs(start: ServerFactory) -> None:
    text = (ROOT / "README.md").read_text()
    snippet = next(b for b in re.findall(r"```python\n(.*?)```", text, re.S) if "connect(" in b)
    srv = await start(npc_count=100)
    code = snippet.replace("ws://127.0.0.1:22005/ws", srv.url)
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        code,
        cwd=ROOT,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 30)
    assert proc.returncode == 0, err.decode()
    m = re.search(r"I am ([0-9a-f-]{36}); I can see (\d+) players and NPCs", out.decode())
    assert m, out.decode()
    assert int(m.group(2)) > 0
