"""Browser tests: Debian's chromium driven by Playwright (`executable_path`, never a downloaded
browser), against servers started in the test's event loop like tests/server's.

`make test` installs chromium with apt-get when it is missing. Run alone without it, these
tests are skipped with a note, except under CI=true, where a missing browser fails them.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.server.conftest import pytest_asyncio_loop_factories, start

__all__ = ["artifacts", "browser", "pytest_asyncio_loop_factories", "start"]

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"


def chromium_path() -> str:
    found = shutil.which(CHROMIUM) or shutil.which("chromium")
    if found is None:
        why = f"no chromium at {CHROMIUM} (make test installs it: apt-get install -y chromium)"
        if os.environ.get("CI") == "true":
            pytest.fail(why)
        pytest.skip(why)
    return found


@pytest.fixture
def artifacts() -> Path:
    """Where the tests save their screenshots (tests/artifacts/, not committed)."""
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS


@pytest.fixture
async def browser() -> AsyncIterator[object]:
    from playwright.async_api import async_playwright

    path = chromium_path()
    async with async_playwright() as pw:
        # --no-sandbox: the tests may run as root (containers, CI), where chromium's sandbox
        # refuses to start.
        b = await pw.chromium.launch(
            executable_path=path, headless=True, args=["--no-sandbox", "--disable-gpu"]
        )
        try:
            yield b
        finally:
            await b.close()
