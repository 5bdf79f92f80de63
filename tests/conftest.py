"""Root fixtures. Service fixtures (per-run PostgreSQL database, Redis prefix) are plugins."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.ai.fake_openai import FakeOpenAI

pytest_plugins: list[str] = ["tests.services_fixtures"]


@pytest.fixture
async def fake() -> AsyncIterator[FakeOpenAI]:
    """An OpenAI-compatible model server on loopback, scripted by the test (tests/ai)."""
    f = FakeOpenAI()
    await f.start()
    try:
        yield f
    finally:
        await f.close()
