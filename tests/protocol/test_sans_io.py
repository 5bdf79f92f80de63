"""The protocol package is sans-I/O: it never imports asyncio or a network module."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import protocol

ROOT = Path(protocol.__file__).parent
FORBIDDEN = {"asyncio", "socket", "ssl", "selectors", "websockets", "uvloop", "trio", "anyio"}


def test_no_forbidden_imports_in_source() -> None:
    found = []
    for path in sorted(ROOT.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        for node in ast.walk(tree):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module]
            elif isinstance(node, ast.Call) and getattr(node.func, "id", "") == "__import__":
                names = ["<dynamic __import__>"]
            for n in names:
                if n.split(".")[0] in FORBIDDEN or n.startswith("<"):
                    found.append(f"{path.relative_to(ROOT)}:{node.lineno}: {n}")
    assert not found, found


def test_importing_every_module_loads_no_asyncio() -> None:
    code = (
        "import pkgutil, sys, importlib, protocol\n"
        "for m in pkgutil.walk_packages(protocol.__path__, 'protocol.'):\n"
        "    importlib.import_module(m.name)\n"
        f"bad = sorted(set(sys.modules) & set({sorted(FORBIDDEN)!r}))\n"
        "print(','.join(bad))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT.parent,
        timeout=60,
    )
    assert out.stdout.strip() == ""
