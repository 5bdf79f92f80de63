"""Operator tools built on the SDK: `ganggpt-loadtest` (loadtest.py) and the benchmarks
(bench.py, `make bench`).

Why a sub-package: a game client installs `client_sdk` for `connect` and the mirror; the tools
need `rich` for their live tables, which is the `tools` extra (`pip install
"ganggpt-server[tools]"`), so nothing here is imported by `client_sdk` itself.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

TOOLS_MSG = 'needs the tools extra (rich): pip install "ganggpt-server[tools]"'


def tool_version() -> str:
    try:
        return version("ganggpt-server")
    except PackageNotFoundError:  # a source tree that was never installed
        return "unknown"
