"""Cancellation-safe transaction steps, shared by both SQL backends.

Why: a connection handler is cancelled whenever its client goes away, and it may be inside a
storage call at that moment. If BEGIN, COMMIT or ROLLBACK is itself interrupted, the database
connection is left inside a transaction nobody will end: SQLite then refuses every later BEGIN
("cannot start a transaction within a transaction") and every join after it fails. So the
steps that open or close a transaction run to completion whatever happens to their caller, and
the caller's cancellation is delivered right after.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import TypeVar

T = TypeVar("T")


async def finish(aw: Awaitable[T]) -> T:
    """Await `aw` to its end even if the caller is cancelled meanwhile; then re-raise the
    cancellation (it wins over the result, and over an error of `aw`)."""
    task = asyncio.ensure_future(aw)
    cancelled = False
    while True:
        try:
            result = await asyncio.shield(task)
            break
        except asyncio.CancelledError:
            if task.cancelled():
                raise  # the step itself was cancelled (loop shutting down): nothing to wait for
            if not task.done():
                cancelled = True
                continue
            cancelled = True
            if task.exception() is None:
                result = task.result()
                break
            raise asyncio.CancelledError from task.exception()
        except BaseException:
            if cancelled:
                raise asyncio.CancelledError from None
            raise
    if cancelled:
        raise asyncio.CancelledError
    return result
