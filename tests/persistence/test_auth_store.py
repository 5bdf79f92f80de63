"""The auth library's stores over every backend: one contract for `AccountStore` and
`RefreshTokenStore` (server/auth) as `persistence.repos.auth_accounts / .auth_sessions` on
SQLite, PostgreSQL and memory, and the library's own in-memory reference; the admin notes and
warnings; and bans and revoked sessions that survive a restart of the persistence."""

from __future__ import annotations

import asyncio
import math
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from config import Config
from server.auth.accounts import Account, AccountExists, AccountStore, MemoryAccountStore
from server.auth.crypto import AesGcmFields
from server.auth.passwords import PasswordHasher
from server.auth.permissions import RoleCatalogue, Tier
from server.auth.service import AccountBanned, AccountService, TokenRefused
from server.auth.sessions import (
    MemoryRefreshTokenStore,
    RefreshTokenStore,
    SessionLimit,
    Sessions,
    hash_refresh,
)
from server.auth.throttle import SlidingWindow
from server.auth.tokens import AccessClaims, AccessTokens, Reason, Rejected
from server.persistence.memory import MemoryPersistence
from server.persistence.service import PersistenceService
from tests.auth.conftest import SECRET, Clock

KEY = bytes(range(32))
PW = "correct horse battery"


@dataclass
class Stores:
    accounts: AccountStore
    sessions: RefreshTokenStore
    persistence: Any  # None for the library's reference stores


@pytest.fixture(params=["sqlite", "postgres", "memory", "reference"])
async def stores(
    request: pytest.FixtureRequest, make_config: Callable[..., Config]
) -> AsyncIterator[Stores]:
    if request.param == "reference":
        yield Stores(MemoryAccountStore(), MemoryRefreshTokenStore(), None)
        return
    p: Any
    if request.param == "memory":
        p = MemoryPersistence()
    elif request.param == "postgres":
        p = PersistenceService(
            make_config(database_url=request.getfixturevalue("pg_url")), CollectorRegistry()
        )
    else:
        p = PersistenceService(make_config(), CollectorRegistry())
    await p.start()
    try:
        yield Stores(p.repos.auth_accounts, p.repos.auth_sessions, p)
    finally:
        await p.close()


@pytest.fixture
async def hasher() -> AsyncIterator[PasswordHasher]:
    h = PasswordHasher(4)
    yield h
    h.close()


def service_over(
    accounts: AccountStore, sessions: RefreshTokenStore, clock: Clock, hasher: PasswordHasher
) -> AccountService:
    return AccountService(
        store=accounts,
        sessions=Sessions(
            sessions, refresh_ttl=3600, max_age=30 * 86400, policy=SessionLimit(10), clock=clock
        ),
        tokens=AccessTokens(SECRET, ttl=60, clock=clock),
        hasher=hasher,
        fields=AesGcmFields(KEY),
        roles=RoleCatalogue.default(),
        account_throttle=SlidingWindow(5, 300, clock=clock),
        ip_throttle=SlidingWindow(20, 300, clock=clock),
        register_throttle=SlidingWindow(100, 3600, clock=clock),
        clock=clock,
    )


def account(name: str, **kw: Any) -> Account:
    values: dict[str, Any] = {
        "id": str(uuid.uuid4()),
        "username": name,
        "display_name": name.title(),
        "email_sealed": f"sealed:{name}",
        "email_hash": f"hash:{name}",
        "password_hash": "$2b$04$" + "x" * 53,
        "created_at": 1_700_000_000.0,
    }
    values.update(kw)
    return Account(**values)


async def test_accounts_create_find_and_refuse_duplicates(stores: Stores) -> None:
    s = stores.accounts
    a = account("alice")
    await s.create(a)
    assert await s.by_id(a.id) == a
    assert await s.by_username("alice") == a
    assert await s.by_email_hash("hash:alice") == a
    assert await s.by_username("bob") is None and await s.by_email_hash("hash:bob") is None
    assert await s.by_id(str(uuid.uuid4())) is None
    with pytest.raises(AccountExists) as err:
        await s.create(account("alice", email_hash="hash:other"))
    assert err.value.field == "username"
    with pytest.raises(AccountExists) as err:
        await s.create(account("alice2", email_hash="hash:alice"))
    assert err.value.field == "email"
    assert await s.by_username("alice2") is None  # nothing half-written


async def test_an_account_is_a_player_and_a_guest_name_is_taken(stores: Stores) -> None:
    if stores.persistence is None:
        pytest.skip("the reference store knows no players")
    players = stores.persistence.repos.players
    a = account("carl")
    await stores.accounts.create(a)
    p = await players.get(a.id)
    assert p is not None and p.name == "carl"
    await players.load_or_create("ryder")  # a guest who played under that name
    with pytest.raises(AccountExists) as err:
        await stores.accounts.create(account("ryder"))
    assert err.value.field == "username"
    with pytest.raises(ValueError):
        await stores.accounts.create(account("notuuid", id="acc-1"))
    assert await stores.accounts.by_id("not-a-uuid") is None


async def test_player_names_in_one_read(stores: Stores) -> None:
    if stores.persistence is None:
        pytest.skip("the reference store knows no players")
    players = stores.persistence.repos.players
    carl = account("carl", display_name="Carl J")
    await stores.accounts.create(carl)
    guest = await players.load_or_create("guest 1234")
    unknown = str(uuid.uuid4())
    assert await players.names([carl.id, guest.player_id, unknown, carl.id]) == {
        carl.id: "Carl J",  # an account: its display name, not the row's username
        guest.player_id: "guest 1234",
    }
    assert await players.names([]) == {}


async def test_account_updates_bans_and_identities(stores: Stores) -> None:
    s = stores.accounts
    a = account("sweet")
    await s.create(a)
    await s.set_password_hash(a.id, "$2b$11$" + "y" * 53)
    await s.set_role(a.id, "moderator")
    await s.set_tier(a.id, Tier.PREMIUM)
    got = await s.by_id(a.id)
    assert got is not None
    assert (got.password_hash[:7], got.role, got.tier) == ("$2b$11$", "moderator", Tier.PREMIUM)

    await s.set_ban(a.id, math.inf, "cheating", actor="admin-1", at=1_700_000_100.0)
    got = await s.by_id(a.id)
    assert got is not None and got.banned_until == math.inf and got.banned(1e12)
    assert (got.ban_reason, got.banned_by, got.banned_at) == (
        "cheating",
        "admin-1",
        1_700_000_100.0,
    )
    await s.set_ban(a.id, 1_700_003_600.0, "cooldown")
    got = await s.by_id(a.id)
    assert got is not None and got.banned_until == 1_700_003_600.0
    assert got.banned(1_700_003_599.0) and not got.banned(1_700_003_600.0)
    await s.set_ban(a.id, None, None)
    got = await s.by_id(a.id)
    assert got is not None and got.banned_until is None and got.ban_reason is None
    with pytest.raises(KeyError):
        await s.set_role(str(uuid.uuid4()), "admin")

    await s.link_identity("fivem", "license:abc", a.id)
    assert await s.by_identity("fivem", "license:abc") == got
    assert await s.by_identity("fivem", "license:zzz") is None
    with pytest.raises(KeyError):
        await s.link_identity("discord", "1", str(uuid.uuid4()))


async def test_banned_accounts_are_listed_latest_first(stores: Stores) -> None:
    if stores.persistence is None:
        pytest.skip("listing is the repositories' addition")
    s = stores.persistence.repos.auth_accounts
    a, b, c = account("aa1"), account("bb1"), account("cc1")
    for x in (a, b, c):
        await s.create(x)
    await s.set_ban(a.id, math.inf, "x", at=10.0)
    await s.set_ban(b.id, 20.0, "y", at=11.0)
    await s.set_ban(c.id, math.inf, "z", at=12.0)
    assert [x.id for x in await s.banned(15.0)] == [c.id, b.id, a.id]
    assert [x.id for x in await s.banned(25.0)] == [c.id, a.id]


async def test_sessions_rotate_and_reuse_revokes(stores: Stores) -> None:
    clock = Clock()
    s = Sessions(
        stores.sessions, refresh_ttl=3600, max_age=86400, policy=SessionLimit(2), clock=clock
    )
    started = await s.start("acc")
    record = await stores.sessions.get_token(hash_refresh(started.refresh_token))
    assert record is not None and record.sid == started.session.sid and record.used_at is None
    clock.advance(5)
    rotated = await s.rotate(started.refresh_token)
    assert not isinstance(rotated, Rejected)
    session = await stores.sessions.get_session(started.session.sid)
    assert session is not None and session.last_used_at == clock.now
    again = await s.rotate(started.refresh_token)
    assert isinstance(again, Rejected) and again.reason is Reason.REUSED
    assert not await s.is_live(started.session.sid)  # the copy killed the whole session
    late = await s.rotate(rotated.refresh_token)
    assert isinstance(late, Rejected) and late.reason is Reason.REVOKED

    # The policy: a third session ends the least recently used one.
    one = await s.start("acc2")
    clock.advance(1)
    two = await s.start("acc2")
    clock.advance(1)
    three = await s.start("acc2")
    assert three.closed == [one.session.sid]
    assert {x.sid for x in await stores.sessions.sessions_of("acc2")} == {
        two.session.sid,
        three.session.sid,
    }


async def test_two_racing_refreshes_cannot_both_win(stores: Stores) -> None:
    clock = Clock()
    s = Sessions(
        stores.sessions, refresh_ttl=3600, max_age=86400, policy=SessionLimit(5), clock=clock
    )
    token = (await s.start("racer")).refresh_token
    results = await asyncio.gather(*(s.rotate(token) for _ in range(8)))
    winners = [r for r in results if not isinstance(r, Rejected)]
    assert len(winners) == 1
    # And the store's own conditional write: exactly one caller wins.
    started = await s.start("racer2")
    h = hash_refresh(started.refresh_token)
    marks = await asyncio.gather(*(stores.sessions.mark_used(h, clock.now) for _ in range(8)))
    assert marks.count(True) == 1


async def test_revoke_and_prune(stores: Stores) -> None:
    clock = Clock()
    s = Sessions(stores.sessions, refresh_ttl=60, max_age=600, policy=SessionLimit(5), clock=clock)
    a, b = await s.start("acc"), await s.start("acc")
    keep = await s.start("other")
    assert sorted(await s.revoke_account("acc", "ban")) == sorted([a.session.sid, b.session.sid])
    assert await s.revoke_account("acc", "ban") == []  # already revoked: nothing this time
    gone = await stores.sessions.get_session(a.session.sid)
    assert gone is not None and gone.revoke_reason == "ban"
    clock.advance(1)
    removed = await stores.sessions.prune(clock.now)
    assert removed == 4  # two revoked sessions and their two tokens
    assert await stores.sessions.get_session(a.session.sid) is None
    assert await stores.sessions.get_token(hash_refresh(keep.refresh_token)) is not None
    clock.advance(61)
    assert await stores.sessions.prune(clock.now) == 1  # the expired token
    clock.advance(600)
    assert await stores.sessions.prune(clock.now) == 1  # the session past its absolute end
    assert await stores.sessions.get_session(keep.session.sid) is None


async def test_the_service_over_each_store(stores: Stores, hasher: PasswordHasher) -> None:
    clock = Clock()
    svc = service_over(stores.accounts, stores.sessions, clock, hasher)
    acc = await svc.register(username="Niko", email="niko@example.com", password=PW, ip="1.2.3.4")
    stored = await stores.accounts.by_id(acc.id)
    assert stored is not None and stored.email_sealed.startswith("enc1:")  # sealed at rest
    pair = await svc.login({"login": "NIKO@example.com", "password": PW}, ip="1.2.3.4")
    assert pair.claims.sub == acc.id and pair.claims.email == "niko@example.com"
    assert isinstance(await svc.authenticate(pair.access_token), AccessClaims)
    newer = await svc.refresh(pair.refresh_token)
    with pytest.raises(TokenRefused):
        await svc.refresh(pair.refresh_token)  # spent: and the session is revoked for it
    got = await svc.authenticate(newer.access_token)
    assert isinstance(got, Rejected) and got.reason is Reason.REVOKED

    again = await svc.login({"login": "niko", "password": PW}, ip="1.2.3.4")
    ended = await svc.ban(acc.id, until=math.inf, reason="aimbot", actor="admin")
    assert again.claims.sid in ended
    got = await svc.authenticate(again.access_token)
    assert isinstance(got, Rejected) and got.reason is Reason.REVOKED
    with pytest.raises(AccountBanned):
        await svc.login({"login": "niko", "password": PW}, ip="1.2.3.4")


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
async def test_a_ban_and_revoked_sessions_survive_a_restart(
    backend: str,
    request: pytest.FixtureRequest,
    make_config: Callable[..., Config],
    hasher: PasswordHasher,
) -> None:
    cfg = (
        make_config(database_url=request.getfixturevalue("pg_url"))
        if backend == "postgres"
        else make_config()
    )
    clock = Clock()
    p = PersistenceService(cfg, CollectorRegistry())
    await p.start()
    try:
        svc = service_over(p.repos.auth_accounts, p.repos.auth_sessions, clock, hasher)
        acc = await svc.register(username="lamar", email="l@example.com", password=PW, ip="1.1.1.1")
        pair = await svc.login({"login": "lamar", "password": PW}, ip="1.1.1.1")
        await svc.ban(acc.id, until=math.inf, reason="griefing", actor="owner")
        note = await p.repos.notes.add(acc.id, "owner", "banned after three warnings")
        warning = await p.repos.warnings.add(acc.id, "owner", "griefing at the docks")
    finally:
        await p.close()

    p = PersistenceService(cfg, CollectorRegistry())  # a new process, the same database
    await p.start()
    try:
        svc = service_over(p.repos.auth_accounts, p.repos.auth_sessions, clock, hasher)
        with pytest.raises(AccountBanned) as err:
            await svc.login({"login": "lamar", "password": PW}, ip="1.1.1.1")
        assert err.value.until == math.inf and err.value.reason == "griefing"
        got = await svc.authenticate(pair.access_token)
        assert isinstance(got, Rejected) and got.reason is Reason.REVOKED
        with pytest.raises(TokenRefused):
            await svc.refresh(pair.refresh_token)
        assert [n.note_id for n in await p.repos.notes.of(acc.id)] == [note.note_id]
        [w] = await p.repos.warnings.of(acc.id)
        assert w.warning_id == warning.warning_id and w.acknowledged_at is None
        await svc.unban(acc.id)
        assert (
            await svc.login({"login": "lamar", "password": PW}, ip="1.1.1.1")
        ).claims.sub == acc.id
    finally:
        await p.close()


async def test_notes_and_warnings(stores: Stores) -> None:
    if stores.persistence is None:
        pytest.skip("notes and warnings are repositories of the persistence")
    notes, warnings = stores.persistence.repos.notes, stores.persistence.repos.warnings
    target = str(uuid.uuid4())
    first = await notes.add(target, "mod-1", "argued in chat")
    await asyncio.sleep(0.002)  # distinct times: the order is by time
    second = await notes.add(target, "mod-2", "x" * 10_000)
    assert len(second.text) == 4000  # bounded
    assert [n.note_id for n in await notes.of(target)] == [second.note_id, first.note_id]
    assert await notes.of(str(uuid.uuid4())) == []
    assert await notes.delete(first.note_id) and not await notes.delete(first.note_id)
    assert not await notes.delete("not-a-uuid")
    with pytest.raises(ValueError):
        await notes.add(target, "mod", "   ")

    w = await warnings.add(target, "mod-1", "spawn camping")
    assert [x.reason for x in await warnings.of(target, unacknowledged=True)] == ["spawn camping"]
    assert await warnings.acknowledge(w.warning_id, 1_700_000_000.0)
    assert not await warnings.acknowledge(w.warning_id, 1_700_000_001.0)  # once
    assert await warnings.of(target, unacknowledged=True) == []
    [back] = await warnings.of(target)
    assert back.acknowledged_at == 1_700_000_000.0 and back.author == "mod-1"
