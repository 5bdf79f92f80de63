"""Shared pieces for the auth tests: a clock tests move, and a service with a fast bcrypt."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from server.auth.accounts import MemoryAccountStore
from server.auth.crypto import AesGcmFields
from server.auth.metrics import AuthMetrics
from server.auth.passwords import PasswordHasher
from server.auth.permissions import RoleCatalogue
from server.auth.service import AccountService
from server.auth.sessions import MemoryRefreshTokenStore, SessionLimit, SessionPolicy, Sessions
from server.auth.throttle import SlidingWindow
from server.auth.tokens import AccessTokens

SECRET = "test-only-" + "0123456789abcdef" * 4  # 73 bytes: long enough for HS512 too
KEY = bytes(range(32))


class Clock:
    """Unix-like seconds that only move when a test says so."""

    def __init__(self, start: float = 1_700_000_000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
async def hasher() -> AsyncIterator[PasswordHasher]:
    h = PasswordHasher(4)  # bcrypt's minimum: these tests check behaviour, not cost
    yield h
    h.close()


def make_service(
    clock: Clock,
    hasher: PasswordHasher,
    *,
    policy: SessionPolicy | None = None,
    account_limit: int = 5,
    ip_limit: int = 20,
    register_limit: int = 100,
    guests: bool = False,
) -> AccountService:
    events: list[tuple[str, list[str], str]] = []
    service = AccountService(
        store=MemoryAccountStore(),
        sessions=Sessions(
            MemoryRefreshTokenStore(),
            refresh_ttl=3600,
            max_age=30 * 86400,
            policy=policy or SessionLimit(10),
            clock=clock,
        ),
        tokens=AccessTokens(SECRET, ttl=60, clock=clock),
        hasher=hasher,
        fields=AesGcmFields(KEY),
        roles=RoleCatalogue.default(),
        account_throttle=SlidingWindow(account_limit, 300, clock=clock),
        ip_throttle=SlidingWindow(ip_limit, 300, clock=clock),
        register_throttle=SlidingWindow(register_limit, 3600, clock=clock),
        guests_allowed=guests,
        metrics=AuthMetrics(),
        clock=clock,
        on_sessions_ended=lambda account, sids, reason: events.append((account, sids, reason)),
    )
    service.ended_events = events  # type: ignore[attr-defined]
    return service


@pytest.fixture
def service(clock: Clock, hasher: PasswordHasher) -> AccountService:
    return make_service(clock, hasher)
