"""`AuthStorage` (auth_repos.py) in SQL, written once for PostgreSQL and SQLite.

Mixed into `SqlStorage`, so it uses the same hooks: `_tx()` (one cancellation-safe
transaction), `_read()`, and the value conversions `ts`/`ts_out`/`uid`. A backend adds only
`is_conflict` (its unique-violation error).
"""

from __future__ import annotations

import math
import time
import uuid
from collections.abc import Sequence
from contextlib import AbstractAsyncContextManager
from typing import TYPE_CHECKING, Any

from server.auth.accounts import Account, AccountExists
from server.auth.permissions import Tier
from server.auth.sessions import RefreshRecord, Session
from server.persistence.auth_storage import FOREVER
from server.persistence.models import PlayerNote, PlayerWarning

if TYPE_CHECKING:
    from server.persistence.sql import Conn

_ACCOUNT_COLS = (
    "SELECT player_id, username, display_name, email_sealed, email_hash, password_hash, role,"
    " tier, created_at, banned_until, ban_reason, banned_by, banned_at FROM accounts"
    " WHERE username IS NOT NULL"
)
_SESSION_COLS = (
    "SELECT sid, account_id, created_at, expires_at, last_used_at, revoked_at, revoke_reason"
    " FROM auth_sessions"
)
# Columns `auth_update_account` may set, and whether each holds a time.
_UPDATABLE = {
    "password_hash": False,
    "role": False,
    "tier": False,
    "display_name": False,
    "banned_until": True,
    "ban_reason": False,
    "banned_by": False,
    "banned_at": True,
}
_SESSION_DEAD = "expires_at <= $1 OR (revoked_at IS NOT NULL AND revoked_at <= $1)"


def as_uuid(value: str) -> str | None:
    """The canonical text of a UUID, or None: account ids are `players.id`, and PostgreSQL
    would refuse anything else with an error instead of simply finding nothing."""
    try:
        return str(uuid.UUID(value))
    except (ValueError, AttributeError, TypeError):
        return None


class AuthSql:
    # --- hooks SqlStorage and the backends provide ---
    def _tx(self) -> AbstractAsyncContextManager[Conn]:
        raise NotImplementedError

    def _read(self) -> AbstractAsyncContextManager[Conn]:
        raise NotImplementedError

    def ts(self, v: float) -> Any:
        return v

    def ts_out(self, v: Any) -> float:
        return float(v)

    def uid(self, v: Any) -> str:
        return str(v)

    def is_conflict(self, exc: BaseException) -> bool:
        """True if `exc` is a unique-constraint violation."""
        raise NotImplementedError

    # --- conversions ---
    def _ban_in(self, until: float | None) -> Any:
        if until is None:
            return None
        return self.ts(FOREVER if math.isinf(until) or until > FOREVER else until)

    def _ban_out(self, v: Any) -> float | None:
        if v is None:
            return None
        t = self.ts_out(v)
        return math.inf if t >= FOREVER else t

    def _opt_in(self, v: float | None) -> Any:
        return None if v is None else self.ts(v)

    def _opt_out(self, v: Any) -> float | None:
        return None if v is None else self.ts_out(v)

    def _account(self, r: Any) -> Account:
        return Account(
            id=self.uid(r["player_id"]),
            username=str(r["username"]),
            display_name=str(r["display_name"] or r["username"]),
            email_sealed=str(r["email_sealed"] or ""),
            email_hash=str(r["email_hash"] or ""),
            password_hash=str(r["password_hash"] or ""),
            role=str(r["role"]),
            tier=Tier(r["tier"]),
            created_at=self.ts_out(r["created_at"]),
            banned_until=self._ban_out(r["banned_until"]),
            ban_reason=r["ban_reason"],
            banned_by=r["banned_by"],
            banned_at=self._opt_out(r["banned_at"]),
        )

    def _session(self, r: Any) -> Session:
        return Session(
            sid=str(r["sid"]),
            account_id=str(r["account_id"]),
            created_at=self.ts_out(r["created_at"]),
            expires_at=self.ts_out(r["expires_at"]),
            last_used_at=self.ts_out(r["last_used_at"]),
            revoked_at=self._opt_out(r["revoked_at"]),
            revoke_reason=r["revoke_reason"],
        )

    # --- accounts ---
    async def _taken(self, c: Conn, account: Account) -> str | None:
        if await c.fetchrow("SELECT 1 FROM accounts WHERE username = $1", account.username):
            return "username"
        if await c.fetchrow("SELECT 1 FROM accounts WHERE email_hash = $1", account.email_hash):
            return "email"
        if await c.fetchrow("SELECT 1 FROM players WHERE username = $1", account.username):
            return "username"  # a player (a guest) already plays under this name
        return None

    async def auth_create_account(self, account: Account) -> None:
        pid = as_uuid(account.id)
        if pid is None or pid != account.id:
            raise ValueError("an account id is a UUID in canonical form (it is players.id)")
        try:
            async with self._tx() as c:
                field = await self._taken(c, account)
                if field is not None:
                    raise AccountExists(field)
                at = self.ts(account.created_at)
                await c.execute(
                    "INSERT INTO players (id, username, created_at) VALUES ($1, $2, $3)",
                    pid,
                    account.username,
                    at,
                )
                await c.execute(
                    "INSERT INTO player_state (player_id, last_seen) VALUES ($1, $2)", pid, at
                )
                await c.execute(
                    "INSERT INTO accounts (player_id, password_hash, created_at, updated_at,"
                    " username, display_name, email_sealed, email_hash, role, tier,"
                    " banned_until, ban_reason, banned_by, banned_at)"
                    " VALUES ($1, $2, $3, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
                    pid,
                    account.password_hash,
                    at,
                    account.username,
                    account.display_name,
                    account.email_sealed,
                    account.email_hash,
                    account.role,
                    Tier(account.tier).value,
                    self._ban_in(account.banned_until),
                    account.ban_reason,
                    account.banned_by,
                    self._opt_in(account.banned_at),
                )
        except AccountExists:
            raise
        except Exception as err:
            if not self.is_conflict(err):
                raise
            # Lost a race with a concurrent registration (PostgreSQL): say which field.
            async with self._read() as c:
                field = await self._taken(c, account)
            raise AccountExists(field or "username") from None

    async def _one_account(self, where: str, *args: Any) -> Account | None:
        async with self._read() as c:
            r = await c.fetchrow(f"{_ACCOUNT_COLS} AND {where}", *args)
        return None if r is None else self._account(r)

    async def auth_account(self, account_id: str) -> Account | None:
        pid = as_uuid(account_id)
        return None if pid is None else await self._one_account("player_id = $1", pid)

    async def auth_account_by_username(self, username: str) -> Account | None:
        return await self._one_account("username = $1", username)

    async def auth_account_by_email_hash(self, email_hash: str) -> Account | None:
        return await self._one_account("email_hash = $1", email_hash)

    async def auth_update_account(self, account_id: str, **changes: object) -> None:
        pid = as_uuid(account_id)
        if pid is None:
            raise KeyError(account_id)
        sets, args = [], [pid]
        for name, value in changes.items():
            if name not in _UPDATABLE:
                raise ValueError(f"accounts.{name} cannot be set")
            if name == "banned_until":
                value = self._ban_in(value)  # type: ignore[arg-type]
            elif _UPDATABLE[name]:
                value = self._opt_in(value)  # type: ignore[arg-type]
            args.append(value)  # type: ignore[arg-type]
            sets.append(f"{name} = ${len(args)}")
        if not sets:
            return
        args.append(self.ts(time.time()))
        sets.append(f"updated_at = ${len(args)}")
        async with self._tx() as c:
            row = await c.fetchrow(
                f"UPDATE accounts SET {', '.join(sets)} WHERE player_id = $1"
                " AND username IS NOT NULL RETURNING player_id",
                *args,
            )
        if row is None:
            raise KeyError(account_id)

    async def auth_link_identity(
        self, provider: str, subject: str, account_id: str, at: float
    ) -> None:
        pid = as_uuid(account_id)
        if pid is None:
            raise KeyError(account_id)
        async with self._tx() as c:
            if not await c.fetchrow("SELECT 1 FROM accounts WHERE player_id = $1", pid):
                raise KeyError(account_id)
            await c.execute(
                "INSERT INTO account_identities (provider, subject, account_id, created_at)"
                " VALUES ($1, $2, $3, $4) ON CONFLICT (provider, subject) DO UPDATE SET"
                " account_id = excluded.account_id",
                provider,
                subject,
                pid,
                self.ts(at),
            )

    async def auth_account_by_identity(self, provider: str, subject: str) -> Account | None:
        return await self._one_account(
            "player_id = (SELECT account_id FROM account_identities"
            " WHERE provider = $1 AND subject = $2)",
            provider,
            subject,
        )

    async def auth_banned(self, now: float, limit: int = 100) -> list[Account]:
        async with self._read() as c:
            rows = await c.fetch(
                f"{_ACCOUNT_COLS} AND banned_until > $1"
                " ORDER BY banned_at DESC NULLS LAST, player_id LIMIT $2",
                self.ts(now),
                limit,
            )
        return [self._account(r) for r in rows]

    # --- sessions and refresh tokens ---
    async def auth_add_session(self, session: Session) -> None:
        async with self._tx() as c:
            await c.execute(
                "INSERT INTO auth_sessions (sid, account_id, created_at, expires_at,"
                " last_used_at, revoked_at, revoke_reason) VALUES ($1, $2, $3, $4, $5, $6, $7)",
                session.sid,
                session.account_id,
                self.ts(session.created_at),
                self.ts(session.expires_at),
                self.ts(session.last_used_at),
                self._opt_in(session.revoked_at),
                session.revoke_reason,
            )

    async def auth_session(self, sid: str) -> Session | None:
        async with self._read() as c:
            r = await c.fetchrow(f"{_SESSION_COLS} WHERE sid = $1", sid)
        return None if r is None else self._session(r)

    async def auth_sessions_of(self, account_id: str) -> list[Session]:
        async with self._read() as c:
            rows = await c.fetch(
                f"{_SESSION_COLS} WHERE account_id = $1 AND revoked_at IS NULL"
                " ORDER BY created_at, sid",
                account_id,
            )
        return [self._session(r) for r in rows]

    async def auth_touch_session(self, sid: str, now: float) -> None:
        async with self._tx() as c:
            await c.execute(
                "UPDATE auth_sessions SET last_used_at = $2 WHERE sid = $1", sid, self.ts(now)
            )

    async def auth_revoke_sessions(self, sids: Sequence[str], reason: str, now: float) -> list[str]:
        done: list[str] = []
        async with self._tx() as c:
            for sid in sids:
                row = await c.fetchrow(
                    "UPDATE auth_sessions SET revoked_at = $2, revoke_reason = $3"
                    " WHERE sid = $1 AND revoked_at IS NULL RETURNING sid",
                    sid,
                    self.ts(now),
                    reason[:32],
                )
                if row is not None:
                    done.append(sid)
        return done

    async def auth_add_token(self, record: RefreshRecord) -> None:
        async with self._tx() as c:
            await c.execute(
                "INSERT INTO auth_refresh_tokens (token_hash, sid, issued_at, expires_at,"
                " used_at) VALUES ($1, $2, $3, $4, $5)",
                record.token_hash,
                record.sid,
                self.ts(record.issued_at),
                self.ts(record.expires_at),
                self._opt_in(record.used_at),
            )

    async def auth_token(self, token_hash: str) -> RefreshRecord | None:
        async with self._read() as c:
            r = await c.fetchrow(
                "SELECT token_hash, sid, issued_at, expires_at, used_at FROM auth_refresh_tokens"
                " WHERE token_hash = $1",
                token_hash,
            )
        if r is None:
            return None
        return RefreshRecord(
            str(r["token_hash"]),
            str(r["sid"]),
            self.ts_out(r["issued_at"]),
            self.ts_out(r["expires_at"]),
            self._opt_out(r["used_at"]),
        )

    async def auth_mark_used(self, token_hash: str, now: float) -> bool:
        # The row lock of this UPDATE (PostgreSQL) or the single writer (SQLite) orders racing
        # refreshes; the loser's re-checked condition no longer holds and it changes no row.
        async with self._tx() as c:
            row = await c.fetchrow(
                "UPDATE auth_refresh_tokens SET used_at = $2"
                " WHERE token_hash = $1 AND used_at IS NULL RETURNING token_hash",
                token_hash,
                self.ts(now),
            )
        return row is not None

    async def auth_prune(self, now: float) -> int:
        t = self.ts(now)
        async with self._tx() as c:
            expired = await c.fetch(
                "DELETE FROM auth_refresh_tokens WHERE expires_at <= $1 RETURNING 1", t
            )
            orphans = await c.fetch(
                "DELETE FROM auth_refresh_tokens WHERE sid IN"
                f" (SELECT sid FROM auth_sessions WHERE {_SESSION_DEAD}) RETURNING 1",
                t,
            )
            dead = await c.fetch(f"DELETE FROM auth_sessions WHERE {_SESSION_DEAD} RETURNING 1", t)
        return len(expired) + len(orphans) + len(dead)

    # --- admin notes and warnings ---
    async def add_player_note(self, note: PlayerNote) -> None:
        async with self._tx() as c:
            await c.execute(
                "INSERT INTO player_notes (id, account_id, author, text, created_at)"
                " VALUES ($1, $2, $3, $4, $5)",
                note.note_id,
                note.account_id,
                note.author,
                note.text,
                self.ts(note.created_at),
            )

    async def player_notes(self, account_id: str, limit: int = 100) -> list[PlayerNote]:
        async with self._read() as c:
            rows = await c.fetch(
                "SELECT id, account_id, author, text, created_at FROM player_notes"
                " WHERE account_id = $1 ORDER BY created_at DESC, id LIMIT $2",
                account_id,
                limit,
            )
        return [
            PlayerNote(
                str(r["account_id"]),
                str(r["author"]),
                str(r["text"]),
                self.ts_out(r["created_at"]),
                self.uid(r["id"]),
            )
            for r in rows
        ]

    async def delete_player_note(self, note_id: str) -> bool:
        nid = as_uuid(note_id)
        if nid is None:
            return False
        async with self._tx() as c:
            row = await c.fetchrow("DELETE FROM player_notes WHERE id = $1 RETURNING id", nid)
        return row is not None

    async def add_player_warning(self, warning: PlayerWarning) -> None:
        async with self._tx() as c:
            await c.execute(
                "INSERT INTO player_warnings (id, account_id, author, reason, created_at,"
                " acknowledged_at) VALUES ($1, $2, $3, $4, $5, $6)",
                warning.warning_id,
                warning.account_id,
                warning.author,
                warning.reason,
                self.ts(warning.created_at),
                self._opt_in(warning.acknowledged_at),
            )

    async def player_warnings(
        self, account_id: str, limit: int = 100, *, unacknowledged: bool = False
    ) -> list[PlayerWarning]:
        extra = " AND acknowledged_at IS NULL" if unacknowledged else ""
        async with self._read() as c:
            rows = await c.fetch(
                "SELECT id, account_id, author, reason, created_at, acknowledged_at"
                f" FROM player_warnings WHERE account_id = $1{extra}"
                " ORDER BY created_at DESC, id LIMIT $2",
                account_id,
                limit,
            )
        return [
            PlayerWarning(
                str(r["account_id"]),
                str(r["author"]),
                str(r["reason"]),
                self.ts_out(r["created_at"]),
                self._opt_out(r["acknowledged_at"]),
                self.uid(r["id"]),
            )
            for r in rows
        ]

    async def acknowledge_warning(self, warning_id: str, now: float) -> bool:
        wid = as_uuid(warning_id)
        if wid is None:
            return False
        async with self._tx() as c:
            row = await c.fetchrow(
                "UPDATE player_warnings SET acknowledged_at = $2"
                " WHERE id = $1 AND acknowledged_at IS NULL RETURNING id",
                wid,
                self.ts(now),
            )
        return row is not None
