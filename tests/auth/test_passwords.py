"""Password policy and the off-loop hasher."""

from __future__ import annotations

import asyncio
import threading

import pytest

from server.auth.metrics import AuthMetrics
from server.auth.passwords import (
    HasherBusy,
    PasswordHasher,
    PasswordRefused,
    check_password_policy,
    hash_rounds,
)


@pytest.mark.parametrize(
    ("password", "reason"),
    [
        ("", "too_short"),
        ("short", "too_short"),
        ("aaaaaaaaaa", "too_simple"),
        ("x" * 73, "too_long"),
        ("ж" * 37, "too_long"),  # 74 bytes in UTF-8, 37 characters
        ("pass\x00word1", "forbidden_character"),
        ("pass\u200bword1", "forbidden_character"),
        ("TonySoprano", "same_as_username"),
    ],
)
def test_policy_refusals(password: str, reason: str) -> None:
    with pytest.raises(PasswordRefused) as e:
        check_password_policy(password, username="tonysoprano")
    assert e.value.reason == reason
    if reason == "too_long":
        assert "72" in str(e.value)


def test_exactly_72_bytes_is_accepted_and_composition_is_normalised() -> None:
    assert len(check_password_policy("abc" * 24)) == 72
    composed, decomposed = "caf\u00e9 au lait", "cafe\u0301 au lait"
    assert check_password_policy(composed) == check_password_policy(decomposed)


async def test_hash_and_verify(hasher: PasswordHasher) -> None:
    hashed = await hasher.hash(check_password_policy("café au lait"))
    assert hash_rounds(hashed) == 4
    assert await hasher.verify("cafe\u0301 au lait", hashed)
    assert not await hasher.verify("cafe au lait", hashed)
    assert not await hasher.verify("x" * 100, hashed)
    assert not await hasher.verify("anything", "not a bcrypt hash")
    assert not hasher.needs_rehash(hashed) and PasswordHasher(5).needs_rehash(hashed)


async def test_hashing_runs_off_the_event_loop_thread() -> None:
    seen: list[str] = []
    hasher = PasswordHasher(4)
    original = hasher._pool.submit

    def spy(fn, *args, **kwargs):  # type: ignore[no-untyped-def]
        seen.append(threading.current_thread().name)
        return original(lambda *a: (seen.append(threading.current_thread().name), fn(*a))[1], *args)

    hasher._pool.submit = spy  # type: ignore[method-assign]
    try:
        await hasher.hash(b"password123")
    finally:
        hasher.close()
    assert seen[0] == threading.current_thread().name
    assert seen[1].startswith("bcrypt")


async def test_a_full_queue_answers_busy_instead_of_waiting() -> None:
    metrics = AuthMetrics()
    hasher = PasswordHasher(8, concurrency=1, max_waiting=2, metrics=metrics)
    try:
        first = [asyncio.ensure_future(hasher.hash(b"password123")) for _ in range(2)]
        deadline = asyncio.get_running_loop().time() + 5
        while hasher._waiting < 2:  # both have taken their places in the queue
            assert asyncio.get_running_loop().time() < deadline
            await asyncio.sleep(0)
        with pytest.raises(HasherBusy):
            await hasher.hash(b"password123")
        assert metrics.hasher_busy._value.get() == 1
        await asyncio.gather(*first)
        await hasher.hash(b"password123")  # room again
    finally:
        hasher.close()


def test_rounds_outside_bcrypt_range_are_refused() -> None:
    with pytest.raises(ValueError):
        PasswordHasher(3)
    with pytest.raises(ValueError):
        PasswordHasher(17)
