"""The admin tests run real servers like tests/server's, with the same fixtures."""

from tests.server.conftest import pytest_asyncio_loop_factories, start

__all__ = ["pytest_asyncio_loop_factories", "start"]
