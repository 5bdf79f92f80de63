"""Accounts as the auth service sees them, and the storage seam it needs.

`AccountStore` is the Protocol the storage layer implements (the typed repositories in
`server/persistence`); `MemoryAccountStore` is the reference used by tests. Emails are held
sealed (`server.auth.crypto`) with a separate lookup hash, so the store never sees an email in
the clear when ENCRYPTION_KEY is set. A ban is a time (`math.inf` = for good).

External identities (a FiveM license, a Discord id) are rows `(provider, subject) -> account`,
so one account can be reached by several providers.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Protocol

from server.auth.permissions import Tier


@dataclass(frozen=True, slots=True)
class Account:
    id: str
    username: str  # normalised (RFC 8265 UsernameCaseMapped): unique
    display_name: str  # as typed, normalised (RFC 8266 Nickname)
    email_sealed: str
    email_hash: str  # lookup hash of the normalised email: unique
    password_hash: str  # bcrypt; "" for accounts that only log in through another provider
    role: str = "player"
    tier: Tier = Tier.FREE
    created_at: float = 0.0
    banned_until: float | None = None  # math.inf = permanent
    ban_reason: str | None = None
    banned_by: str | None = None  # who banned (an admin's account id, "anticheat", ...)
    banned_at: float | None = None

    def banned(self, now: float) -> bool:
        return self.banned_until is not None and now < self.banned_until


class AccountExists(Exception):
    """`field` ("username" or "email") is already taken."""

    def __init__(self, field: str) -> None:
        super().__init__(f"{field} is already registered")
        self.field = field


class StoreUnavailable(Exception):
    """The store cannot answer now (its database is unreachable); a retry later may work.

    Stores raise it (or a subclass) so the endpoints can answer 503 without knowing the
    storage layer."""


class AccountStore(Protocol):
    async def create(self, account: Account) -> None:
        """Insert; raises AccountExists naming the field when username or email_hash is taken."""
        ...

    async def by_id(self, account_id: str) -> Account | None: ...

    async def by_username(self, username: str) -> Account | None: ...

    async def by_email_hash(self, email_hash: str) -> Account | None: ...

    async def set_password_hash(self, account_id: str, password_hash: str) -> None: ...

    async def set_ban(
        self,
        account_id: str,
        until: float | None,
        reason: str | None,
        *,
        actor: str | None = None,
        at: float | None = None,
    ) -> None:
        """`until=None` lifts the ban; raises KeyError for an unknown account."""
        ...

    async def set_role(self, account_id: str, role: str) -> None: ...

    async def set_tier(self, account_id: str, tier: Tier) -> None: ...

    async def link_identity(self, provider: str, subject: str, account_id: str) -> None: ...

    async def by_identity(self, provider: str, subject: str) -> Account | None: ...


class MemoryAccountStore:
    def __init__(self) -> None:
        self._by_id: dict[str, Account] = {}
        self._usernames: dict[str, str] = {}
        self._emails: dict[str, str] = {}
        self._identities: dict[tuple[str, str], str] = {}

    async def create(self, account: Account) -> None:
        if account.username in self._usernames:
            raise AccountExists("username")
        if account.email_hash in self._emails:
            raise AccountExists("email")
        self._by_id[account.id] = account
        self._usernames[account.username] = account.id
        self._emails[account.email_hash] = account.id

    async def by_id(self, account_id: str) -> Account | None:
        return self._by_id.get(account_id)

    async def by_username(self, username: str) -> Account | None:
        aid = self._usernames.get(username)
        return self._by_id.get(aid) if aid else None

    async def by_email_hash(self, email_hash: str) -> Account | None:
        aid = self._emails.get(email_hash)
        return self._by_id.get(aid) if aid else None

    def _update(self, account_id: str, **changes: object) -> None:
        account = self._by_id.get(account_id)
        if account is None:
            raise KeyError(account_id)
        self._by_id[account_id] = replace(account, **changes)  # type: ignore[arg-type]

    async def set_password_hash(self, account_id: str, password_hash: str) -> None:
        self._update(account_id, password_hash=password_hash)

    async def set_ban(
        self,
        account_id: str,
        until: float | None,
        reason: str | None,
        *,
        actor: str | None = None,
        at: float | None = None,
    ) -> None:
        if until is not None and math.isnan(until):
            raise ValueError("ban end is NaN")
        if until is None:
            actor = at = None
        self._update(
            account_id, banned_until=until, ban_reason=reason, banned_by=actor, banned_at=at
        )

    async def set_role(self, account_id: str, role: str) -> None:
        self._update(account_id, role=role)

    async def set_tier(self, account_id: str, tier: Tier) -> None:
        self._update(account_id, tier=tier)

    async def link_identity(self, provider: str, subject: str, account_id: str) -> None:
        if account_id not in self._by_id:
            raise KeyError(account_id)
        self._identities[(provider, subject)] = account_id

    async def by_identity(self, provider: str, subject: str) -> Account | None:
        aid = self._identities.get((provider, subject))
        return self._by_id.get(aid) if aid else None
