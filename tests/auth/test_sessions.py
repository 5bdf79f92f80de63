"""Refresh tokens: stored hashed, rotated on use, reuse revokes the session, policies."""

from __future__ import annotations

import asyncio

from server.auth.sessions import (
    TOKEN_PREFIX,
    MemoryRefreshTokenStore,
    Rotated,
    SessionLimit,
    Sessions,
    SingleSession,
    hash_refresh,
)
from server.auth.tokens import Reason, Rejected
from tests.auth.conftest import Clock


def make(
    clock: Clock, policy: object = None, ttl: float = 3600, max_age: float = 86400
) -> Sessions:
    return Sessions(
        MemoryRefreshTokenStore(),
        refresh_ttl=ttl,
        max_age=max_age,
        policy=policy or SessionLimit(10),  # type: ignore[arg-type]
        clock=clock,
    )


async def test_token_is_opaque_and_only_its_hash_is_stored(clock: Clock) -> None:
    s = make(clock)
    started = await s.start("acc")
    token = started.refresh_token
    assert token.startswith(TOKEN_PREFIX) and len(token) > 40
    store = s.store
    assert isinstance(store, MemoryRefreshTokenStore)
    assert token not in repr(store.__dict__)
    assert await store.get_token(hash_refresh(token)) is not None


async def test_rotation_spends_the_old_token(clock: Clock) -> None:
    s = make(clock)
    first = (await s.start("acc")).refresh_token
    rotated = await s.rotate(first)
    assert isinstance(rotated, Rotated) and rotated.refresh_token != first
    again = await s.rotate(rotated.refresh_token)
    assert isinstance(again, Rotated)
    assert rotated.session.sid == again.session.sid


async def test_reuse_of_a_spent_token_revokes_the_whole_session(clock: Clock) -> None:
    s = make(clock)
    started = await s.start("acc")
    stolen = started.refresh_token
    legit = await s.rotate(stolen)  # the victim refreshes
    assert isinstance(legit, Rotated)
    replay = await s.rotate(stolen)  # the thief replays the copy
    assert isinstance(replay, Rejected) and replay.reason is Reason.REUSED
    assert replay.sid == started.session.sid
    # ... and the victim's newer token is dead too: both must log in again.
    after = await s.rotate(legit.refresh_token)
    assert isinstance(after, Rejected) and after.reason is Reason.REVOKED
    assert not await s.is_live(started.session.sid)


async def test_two_racing_refreshes_with_one_token_cannot_both_win(clock: Clock) -> None:
    s = make(clock)
    token = (await s.start("acc")).refresh_token
    results = await asyncio.gather(*(s.rotate(token) for _ in range(5)))
    assert sum(isinstance(r, Rotated) for r in results) <= 1
    assert any(isinstance(r, Rejected) and r.reason is Reason.REUSED for r in results)


async def test_refresh_token_expires_and_session_has_an_absolute_end(clock: Clock) -> None:
    s = make(clock, ttl=100, max_age=250)
    token = (await s.start("acc")).refresh_token
    clock.advance(100)
    got = await s.rotate(token)
    assert isinstance(got, Rejected) and got.reason is Reason.EXPIRED

    token = (await s.start("acc")).refresh_token
    for _ in range(2):
        clock.advance(99)
        rotated = await s.rotate(token)
        assert isinstance(rotated, Rotated)
        token = rotated.refresh_token
    clock.advance(99)  # 297 s after login: past max_age although the token is fresh
    got = await s.rotate(token)
    assert isinstance(got, Rejected) and got.reason is Reason.EXPIRED


async def test_revoke_account_kills_every_session(clock: Clock) -> None:
    s = make(clock)
    a = await s.start("acc")
    b = await s.start("acc")
    other = await s.start("someone")
    ended = await s.revoke_account("acc", "ban")
    assert sorted(ended) == sorted([a.session.sid, b.session.sid])
    for started in (a, b):
        got = await s.rotate(started.refresh_token)
        assert isinstance(got, Rejected) and got.reason is Reason.REVOKED
    assert await s.is_live(other.session.sid)


async def test_unknown_and_malformed_tokens(clock: Clock) -> None:
    s = make(clock)
    got = await s.rotate(TOKEN_PREFIX + "x" * 43)
    assert isinstance(got, Rejected) and got.reason is Reason.UNKNOWN
    for bad in (None, 1, "", "abc", TOKEN_PREFIX + "x" * 500):
        got = await s.rotate(bad)
        assert isinstance(got, Rejected) and got.reason is Reason.MALFORMED


async def test_single_session_policy_ends_the_others(clock: Clock) -> None:
    s = make(clock, SingleSession())
    first = await s.start("acc")
    second = await s.start("acc")
    assert second.closed == [first.session.sid]
    assert not await s.is_live(first.session.sid)
    assert await s.is_live(second.session.sid)


async def test_session_limit_ends_the_least_recently_used(clock: Clock) -> None:
    s = make(clock, SessionLimit(2))
    a = await s.start("acc")
    clock.advance(1)
    b = await s.start("acc")
    clock.advance(1)
    await s.rotate(a.refresh_token)  # a is now the most recently used
    clock.advance(1)
    c = await s.start("acc")
    assert c.closed == [b.session.sid]
    assert await s.is_live(a.session.sid)


async def test_prune_removes_dead_rows(clock: Clock) -> None:
    s = make(clock, ttl=100, max_age=200)
    started = await s.start("acc")
    await s.rotate(started.refresh_token)
    store = s.store
    assert await store.prune(clock()) == 0
    clock.advance(201)
    assert await store.prune(clock()) == 3  # two tokens and the session
    assert await store.get_session(started.session.sid) is None
