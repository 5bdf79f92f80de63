"""Storage for the auth library (server/auth) and for admin notes and warnings.

`AuthStorage` is what every backend (PostgreSQL, SQLite: `auth_sql.py`; memory:
`auth_memory.py`) implements; the repositories below turn one into the auth library's own
seams: `AuthAccounts` is an `AccountStore`, `AuthSessions` a `RefreshTokenStore`.

Why these writes bypass the write-behind and its outage journal: each one must answer at once
and truthfully (is this username free? did *this* refresh spend the token, or did a racing one?),
which a journal replayed later cannot. So during a database outage they raise
`StorageUnavailable` (the HTTP layer answers 503) instead of being acknowledged and queued.
Each call is one cancellation-safe transaction (txn.py), like every other write.

Accounts are players: `Account.id` is `players.id` (a UUID), and creating an account also
creates its player row, so the game finds the player of a token's `sub` with
`repos.players.get(sub)`. A username held by an existing player row (a guest who played under
that name) is taken.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Sequence
from typing import TypeVar

from server.auth.accounts import Account, StoreUnavailable
from server.auth.permissions import Tier
from server.auth.sessions import RefreshRecord, Session
from server.persistence.auth_storage import AuthStorage
from server.persistence.models import PlayerNote, PlayerWarning
from server.persistence.storage import StorageUnavailable

T = TypeVar("T")

NOTE_MAX = 4000
REASON_MAX = 1000


class AuthStorageUnavailable(StorageUnavailable, StoreUnavailable):
    """The database behind the auth stores is unreachable: the persistence's error and the
    auth library's at once, so each layer catches its own."""


class _Guarded:
    """Turns "the database is not reachable" into StorageUnavailable, whatever the backend."""

    def __init__(self, storage: AuthStorage, unavailable: Callable[[BaseException], bool]) -> None:
        self._s = storage
        self._unavailable = unavailable

    async def _call(self, aw: Awaitable[T]) -> T:
        try:
            return await aw
        except Exception as err:
            if self._unavailable(err):
                raise AuthStorageUnavailable(f"{type(err).__name__}: {err}") from err
            raise


class AuthAccounts(_Guarded):
    """`server.auth.accounts.AccountStore` over the database."""

    async def create(self, account: Account) -> None:
        await self._call(self._s.auth_create_account(account))

    async def by_id(self, account_id: str) -> Account | None:
        return await self._call(self._s.auth_account(account_id))

    async def by_username(self, username: str) -> Account | None:
        return await self._call(self._s.auth_account_by_username(username))

    async def by_email_hash(self, email_hash: str) -> Account | None:
        return await self._call(self._s.auth_account_by_email_hash(email_hash))

    async def set_password_hash(self, account_id: str, password_hash: str) -> None:
        await self._call(self._s.auth_update_account(account_id, password_hash=password_hash))

    async def set_ban(
        self,
        account_id: str,
        until: float | None,
        reason: str | None,
        *,
        actor: str | None = None,
        at: float | None = None,
    ) -> None:
        if until is not None and until != until:
            raise ValueError("ban end is NaN")
        if until is None:
            reason = actor = at = None
        await self._call(
            self._s.auth_update_account(
                account_id,
                banned_until=until,
                ban_reason=None if reason is None else reason[:REASON_MAX],
                banned_by=None if actor is None else actor[:100],
                banned_at=at,
            )
        )

    async def set_role(self, account_id: str, role: str) -> None:
        await self._call(self._s.auth_update_account(account_id, role=role))

    async def set_tier(self, account_id: str, tier: Tier) -> None:
        await self._call(self._s.auth_update_account(account_id, tier=Tier(tier)))

    async def link_identity(self, provider: str, subject: str, account_id: str) -> None:
        await self._call(self._s.auth_link_identity(provider, subject, account_id, time.time()))

    async def by_identity(self, provider: str, subject: str) -> Account | None:
        return await self._call(self._s.auth_account_by_identity(provider, subject))

    async def banned(self, now: float, limit: int = 100) -> list[Account]:
        """For the admin console: who is banned now, the latest ban first."""
        return await self._call(self._s.auth_banned(now, limit))


class AuthSessions(_Guarded):
    """`server.auth.sessions.RefreshTokenStore` over the database."""

    async def add_session(self, session: Session) -> None:
        await self._call(self._s.auth_add_session(session))

    async def get_session(self, sid: str) -> Session | None:
        return await self._call(self._s.auth_session(sid))

    async def sessions_of(self, account_id: str) -> list[Session]:
        return await self._call(self._s.auth_sessions_of(account_id))

    async def touch_session(self, sid: str, now: float) -> None:
        await self._call(self._s.auth_touch_session(sid, now))

    async def revoke_sessions(self, sids: Sequence[str], reason: str, now: float) -> list[str]:
        if not sids:
            return []
        return await self._call(self._s.auth_revoke_sessions(list(sids), reason, now))

    async def add_token(self, record: RefreshRecord) -> None:
        await self._call(self._s.auth_add_token(record))

    async def get_token(self, token_hash: str) -> RefreshRecord | None:
        return await self._call(self._s.auth_token(token_hash))

    async def mark_used(self, token_hash: str, now: float) -> bool:
        return await self._call(self._s.auth_mark_used(token_hash, now))

    async def prune(self, now: float) -> int:
        return await self._call(self._s.auth_prune(now))


class PlayerNotes(_Guarded):
    """Administrators' notes on players (the admin console's `notes`)."""

    async def add(self, account_id: str, author: str, text: str) -> PlayerNote:
        if not text.strip():
            raise ValueError("a note needs text")
        note = PlayerNote(account_id[:64], author[:100], text[:NOTE_MAX])
        await self._call(self._s.add_player_note(note))
        return note

    async def of(self, account_id: str, limit: int = 100) -> list[PlayerNote]:
        """Newest first."""
        return await self._call(self._s.player_notes(account_id, limit))

    async def delete(self, note_id: str) -> bool:
        return await self._call(self._s.delete_player_note(note_id))


class PlayerWarnings(_Guarded):
    """Warnings given to players (the admin console's `warn`)."""

    async def add(self, account_id: str, author: str, reason: str) -> PlayerWarning:
        if not reason.strip():
            raise ValueError("a warning needs a reason")
        warning = PlayerWarning(account_id[:64], author[:100], reason[:REASON_MAX])
        await self._call(self._s.add_player_warning(warning))
        return warning

    async def of(
        self, account_id: str, limit: int = 100, *, unacknowledged: bool = False
    ) -> list[PlayerWarning]:
        """Newest first."""
        return await self._call(
            self._s.player_warnings(account_id, limit, unacknowledged=unacknowledged)
        )

    async def acknowledge(self, warning_id: str, now: float) -> bool:
        return await self._call(self._s.acknowledge_warning(warning_id, now))
