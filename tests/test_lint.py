"""The code standards hold: ruff (lint and format) and mypy --strict on the packages.

Run in the suite so CI enforces them; each check prints what it found when it fails. Only the
project's own packages are checked: a user's `bot.py` saved in the repository root (where the
README's run line points) is theirs, and must not break `make test`.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
# The same list as LINT_PATHS in the Makefile (a test below keeps them equal).
PACKAGES = ["server", "protocol", "client_sdk", "config", "tests"]


def _run(cmd: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    exe = BIN / cmd[0]
    if not exe.exists():
        pytest.fail(f"{cmd[0]} is not installed in the venv (it is a dev dependency)")
    return subprocess.run(
        [str(exe), *cmd[1:]], cwd=cwd, capture_output=True, text=True, timeout=300
    )


@pytest.mark.parametrize(
    "cmd",
    [
        ["ruff", "check", *PACKAGES],
        ["ruff", "format", "--check", *PACKAGES],
        ["mypy"],
    ],
    ids=["ruff-check", "ruff-format", "mypy-strict"],
)
def test_standard(cmd: list[str]) -> None:
    r = _run(cmd, ROOT)
    assert r.returncode == 0, r.stdout[-4000:] + r.stderr[-2000:]


def test_makefile_lints_the_same_packages() -> None:
    text = (ROOT / "Makefile").read_text()
    m = re.search(r"^LINT_PATHS\s*:=\s*(.+)$", text, re.M)
    assert m, "Makefile has no LINT_PATHS"
    assert m.group(1).split() == PACKAGES
    for line in text.splitlines():
        if "ruff" in line and ("check" in line or "format" in line):
            assert "$(LINT_PATHS)" in line and " . " not in f"{line} ", line


def test_a_stray_script_in_the_root_is_not_linted(tmp_path: Path) -> None:
    """The README's `bot.py`, saved badly formatted and with an unused import, in a copy of the
    layout: the lint commands the suite and `make lint` run still pass."""
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    for pkg in PACKAGES:
        (tmp_path / pkg).mkdir()
        (tmp_path / pkg / "__init__.py").write_text('"""A package."""\n')
    (tmp_path / "bot.py").write_text("import os\nimport asyncio\nx=( 1 ,2 )\n")
    for cmd in (["ruff", "check", *PACKAGES], ["ruff", "format", "--check", *PACKAGES]):
        r = _run(cmd, tmp_path)
        assert r.returncode == 0, r.stdout + r.stderr
    # ...and the copy does catch what it should: the same file inside a package fails.
    shutil.copy(tmp_path / "bot.py", tmp_path / "server" / "bot.py")
    assert _run(["ruff", "check", *PACKAGES], tmp_path).returncode != 0
