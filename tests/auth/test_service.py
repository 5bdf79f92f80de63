"""AccountService end to end over the in-memory stores: register, login, refresh, logout, ban."""

from __future__ import annotations

import math

import pytest

from config import load_config
from server.auth.accounts import Account, MemoryAccountStore
from server.auth.crypto import is_sealed
from server.auth.passwords import PasswordHasher
from server.auth.permissions import AdminPermission, Permission
from server.auth.service import (
    AccountBanned,
    AccountService,
    GuestsDisabled,
    InvalidCredentials,
    RegistrationRefused,
    Throttled,
    TokenRefused,
)
from server.auth.sessions import MemoryRefreshTokenStore, SingleSession
from server.auth.tokens import AccessClaims, Reason, Rejected
from tests.auth.conftest import Clock, make_service

PW = "correct horse battery"


async def register(service: AccountService, name: str = "Alice", **kw: str) -> Account:
    return await service.register(
        username=name,
        email=kw.get("email", f"{name}@Example.COM"),
        password=kw.get("password", PW),
        ip=kw.get("ip", "10.0.0.1"),
    )


def ended(service: AccountService) -> list[tuple[str, list[str], str]]:
    return service.ended_events  # type: ignore[attr-defined, no-any-return]


async def test_register_normalises_and_seals(service: AccountService) -> None:
    account = await register(service, "Ａｌｉｃｅ")
    assert account.username == "alice" and account.display_name == "Alice"
    assert is_sealed(account.email_sealed) and "example" not in account.email_sealed.lower()
    assert await service.email_of(account) == "Ａｌｉｃｅ@example.com"
    assert account.password_hash.startswith("$2b$04$")


async def test_username_and_email_are_unique_case_insensitively(service: AccountService) -> None:
    await register(service, "alice", email="alice@example.com")
    with pytest.raises(RegistrationRefused) as e:
        await register(service, "ALICE", email="other@example.com")
    assert (e.value.field, e.value.status) == ("username", 409)
    with pytest.raises(RegistrationRefused) as e:
        await register(service, "bob", email="ALICE@example.com")
    assert (e.value.field, e.value.status) == ("email", 409)


@pytest.mark.parametrize(
    ("kw", "field"),
    [
        ({"name": "a"}, "username"),
        ({"name": "bad name"}, "username"),
        ({"name": "evil\u202e"}, "username"),
        ({"email": "not-an-email"}, "email"),
        ({"password": "short"}, "password"),
        ({"password": "é" * 40}, "password"),  # 80 bytes: over bcrypt's 72
        ({"password": "aaaaaaaaaaaa"}, "password"),
    ],
)
async def test_registration_refusals_name_the_field(
    service: AccountService, kw: dict[str, str], field: str
) -> None:
    name = kw.pop("name", "carol")
    with pytest.raises(RegistrationRefused) as e:
        await register(service, name, **kw)
    assert e.value.field == field and e.value.status == 400


async def test_login_by_username_or_email_gives_working_tokens(service: AccountService) -> None:
    account = await register(service)
    for login in ("alice", "ALICE", "alice@example.com", "Alice@EXAMPLE.com"):
        pair = await service.login({"login": login, "password": PW}, ip="1.1.1.1")
        claims = await service.authenticate(pair.access_token)
        assert isinstance(claims, AccessClaims)
        assert claims.sub == account.id and claims.email == "Alice@example.com"
        assert set(claims.permissions) == {"play:game", "create:faction"}
        assert pair.expires_in == 60


async def test_wrong_password_and_unknown_user_fail_alike(service: AccountService) -> None:
    await register(service)
    errors = []
    for creds in (
        {"login": "alice", "password": "wrong password"},
        {"login": "nobody", "password": PW},
        {"login": "nobody@example.com", "password": PW},
        {"login": "x" * 400, "password": PW},
    ):
        with pytest.raises(InvalidCredentials) as e:
            await service.login(creds, ip="1.1.1.1")
        errors.append((type(e.value), str(e.value), e.value.status))
    assert len(set(errors)) == 1


async def test_unknown_user_still_costs_a_bcrypt_verify(
    service: AccountService, hasher: PasswordHasher
) -> None:
    calls = []
    real = hasher.verify_dummy

    async def counting() -> None:
        calls.append(1)
        await real()

    hasher.verify_dummy = counting  # type: ignore[method-assign]
    with pytest.raises(InvalidCredentials):
        await service.login({"login": "ghost", "password": PW}, ip="1.1.1.1")
    assert calls == [1]


async def test_refresh_rotates_and_logout_revokes(service: AccountService) -> None:
    await register(service)
    pair = await service.login({"login": "alice", "password": PW}, ip="1.1.1.1")
    newer = await service.refresh(pair.refresh_token)
    assert isinstance(await service.authenticate(newer.access_token), AccessClaims)
    assert await service.logout(newer.refresh_token)
    with pytest.raises(TokenRefused) as e:
        await service.refresh(newer.refresh_token)
    assert e.value.rejected.reason is Reason.REVOKED
    # The access token of the ended session is refused at once, not only at exp.
    got = await service.authenticate(newer.access_token)
    assert isinstance(got, Rejected) and got.reason is Reason.REVOKED and got.close_code == 4004
    assert ended(service)[-1][2] == "logout"


async def test_refresh_token_reuse_ends_the_session_and_tells_the_game(
    service: AccountService,
) -> None:
    await register(service)
    pair = await service.login({"login": "alice", "password": PW}, ip="1.1.1.1")
    await service.refresh(pair.refresh_token)
    with pytest.raises(TokenRefused) as e:
        await service.refresh(pair.refresh_token)
    assert e.value.rejected.reason is Reason.REUSED
    assert ended(service)[-1] == (pair.claims.sub, [pair.claims.sid], "reuse")
    assert isinstance(await service.authenticate(pair.access_token), Rejected)


async def test_ban_revokes_every_session_and_refuses_login(service: AccountService) -> None:
    account = await register(service)
    a = await service.login({"login": "alice", "password": PW}, ip="1.1.1.1")
    b = await service.login({"login": "alice", "password": PW}, ip="1.1.1.2")
    sids = await service.ban(account.id, until=math.inf, reason="cheating")
    assert sorted(sids) == sorted([a.claims.sid, b.claims.sid])
    assert ended(service)[-1][2] == "ban"
    for pair in (a, b):
        assert isinstance(await service.authenticate(pair.access_token), Rejected)
        with pytest.raises(TokenRefused):
            await service.refresh(pair.refresh_token)
    with pytest.raises(AccountBanned) as e:
        await service.login({"login": "alice", "password": PW}, ip="1.1.1.1")
    assert e.value.reason == "cheating" and e.value.status == 403
    await service.unban(account.id)
    await service.login({"login": "alice", "password": PW}, ip="1.1.1.1")


async def test_temporary_ban_ends_by_itself(service: AccountService, clock: Clock) -> None:
    account = await register(service)
    await service.ban(account.id, until=clock() + 3600, reason=None)
    with pytest.raises(AccountBanned):
        await service.login({"login": "alice", "password": PW}, ip="1.1.1.1")
    clock.advance(3600)
    await service.login({"login": "alice", "password": PW}, ip="1.1.1.1")


async def test_single_session_closes_the_older_login(clock: Clock, hasher: PasswordHasher) -> None:
    service = make_service(clock, hasher, policy=SingleSession())
    await register(service)
    first = await service.login({"login": "alice", "password": PW}, ip="1.1.1.1")
    second = await service.login({"login": "alice", "password": PW}, ip="1.1.1.1")
    assert second.closed_sessions == [first.claims.sid]
    assert ended(service)[-1] == (first.claims.sub, [first.claims.sid], "replaced")
    assert isinstance(await service.authenticate(first.access_token), Rejected)
    assert isinstance(await service.authenticate(second.access_token), AccessClaims)


async def test_login_throttled_per_account_then_released(
    clock: Clock, hasher: PasswordHasher
) -> None:
    service = make_service(clock, hasher, account_limit=3)
    await register(service)
    for i in range(3):
        with pytest.raises(InvalidCredentials):
            await service.login({"login": "alice", "password": "nope nope"}, ip=f"2.0.0.{i}")
    with pytest.raises(Throttled) as e:  # even with the right password, from a new address
        await service.login({"login": "ALICE", "password": PW}, ip="3.0.0.1")
    assert e.value.scope == "account" and e.value.status == 429 and e.value.retry_after > 0
    clock.advance(300)
    await service.login({"login": "alice", "password": PW}, ip="3.0.0.1")


async def test_login_throttled_per_ip(clock: Clock, hasher: PasswordHasher) -> None:
    service = make_service(clock, hasher, ip_limit=4)
    for i in range(4):
        with pytest.raises(InvalidCredentials):
            await service.login({"login": f"user{i}", "password": "whatever1"}, ip="6.6.6.6")
    with pytest.raises(Throttled) as e:
        await service.login({"login": "someone", "password": "whatever1"}, ip="6.6.6.6")
    assert e.value.scope == "ip"
    with pytest.raises(InvalidCredentials):  # another address is not affected
        await service.login({"login": "someone", "password": "whatever1"}, ip="7.7.7.7")


async def test_registration_is_throttled_per_ip(clock: Clock, hasher: PasswordHasher) -> None:
    service = make_service(clock, hasher, register_limit=2)
    await register(service, "user1", ip="5.5.5.5")
    await register(service, "user2", ip="5.5.5.5")
    with pytest.raises(Throttled):
        await register(service, "user3", ip="5.5.5.5")
    await register(service, "user3", ip="5.5.5.6")


async def test_role_change_reaches_the_next_token(service: AccountService) -> None:
    account = await register(service)
    pair = await service.login({"login": "alice", "password": PW}, ip="1.1.1.1")
    assert not service.grants(pair.claims).can_open_admin()
    await service.set_role(account.id, "moderator")
    newer = await service.refresh(pair.refresh_token)
    grants = service.grants(newer.claims)
    assert grants.has(AdminPermission.PLAYERS_KICK) and not grants.has(AdminPermission.PLAYERS_BAN)
    with pytest.raises(ValueError):
        await service.set_role(account.id, "emperor")


async def test_low_cost_hash_is_upgraded_at_login(clock: Clock) -> None:
    weak, strong = PasswordHasher(4), PasswordHasher(5)
    try:
        service = make_service(clock, weak)
        account = await register(service)
        service.hasher = strong
        provider = service.providers["password"]
        provider._hasher = strong  # type: ignore[attr-defined]
        await service.login({"login": "alice", "password": PW}, ip="1.1.1.1")
        stored = await service.store.by_id(account.id)
        assert stored is not None and stored.password_hash.startswith("$2b$05$")
    finally:
        weak.close()
        strong.close()


async def test_guest_identity_only_when_allowed(clock: Clock, hasher: PasswordHasher) -> None:
    with pytest.raises(GuestsDisabled):
        make_service(clock, hasher).guest()
    guest = make_service(clock, hasher, guests=True).guest()
    assert guest.sub.startswith("guest-") and guest.permissions == (Permission.PLAY_GAME,)


class FakeLicenseProvider:
    """What a FiveM-license provider would look like: the seam, not an implementation."""

    name = "fivem"

    def __init__(self, store: MemoryAccountStore) -> None:
        self.store = store

    async def authenticate(self, credentials: dict[str, str]) -> Account:
        account = await self.store.by_identity("fivem", credentials.get("license", ""))
        if account is None:
            raise InvalidCredentials()
        return account

    def throttle_key(self, credentials: dict[str, str]) -> str | None:
        return "fivem:" + credentials.get("license", "")[:64]


async def test_an_external_identity_provider_plugs_in(service: AccountService) -> None:
    account = await register(service)
    store = service.store
    assert isinstance(store, MemoryAccountStore)
    await store.link_identity("fivem", "license:abc", account.id)
    service.add_provider(FakeLicenseProvider(store))  # type: ignore[arg-type]
    pair = await service.login({"license": "license:abc"}, ip="1.1.1.1", provider="fivem")
    assert pair.claims.sub == account.id
    with pytest.raises(InvalidCredentials):
        await service.login({"license": "license:zzz"}, ip="1.1.1.1", provider="fivem")


async def test_from_config_builds_a_working_service() -> None:
    config = load_config(
        jwt_secret="x" * 8 + "0123456789abcdef" * 2, single_session=True, bcrypt_rounds=10
    )
    service = AccountService.from_config(
        config, store=MemoryAccountStore(), refresh_store=MemoryRefreshTokenStore()
    )
    try:
        assert service.guests_allowed  # development default
        assert service.hasher.rounds == 10 and service.tokens.ttl == 60
        await register(service)
        pair = await service.login({"login": "alice", "password": PW}, ip="1.1.1.1")
        assert isinstance(await service.authenticate(pair.access_token), AccessClaims)
    finally:
        service.hasher.close()
