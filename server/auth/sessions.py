"""Login sessions and their refresh tokens: opaque, stored hashed, rotated on every use.

A login starts a *session* (a refresh-token family, id `sid`, carried in every access token
made from it). Each refresh returns a new refresh token and marks the old one used. Presenting
a used token again means it was copied: the whole session is revoked (RFC 9700, OAuth 2.0
Security BCP, section 4.14.2), so the thief and the victim both have to log in again, and the
victim's next refresh tells them why. Logout revokes the session; a ban revokes every session
of the account.

Tokens are `ggr1_` + 32 random bytes (URL-safe base64); the prefix lets secret scanners spot a
leaked one. Only SHA-256 of a token is stored: it has 256 bits of entropy, so a plain hash is
enough and, unlike an HMAC under JWT_SECRET, survives a change of that secret.

Storage is behind `RefreshTokenStore`; `MemoryRefreshTokenStore` is the reference. The SQL
version needs two tables:
`auth_sessions(sid PK, account_id, created_at, expires_at, last_used_at, revoked_at,
revoke_reason)` and `auth_refresh_tokens(token_hash PK, sid FK, issued_at, expires_at,
used_at)`, and `mark_used` must be one conditional UPDATE so two racing refreshes cannot both win.
"""

from __future__ import annotations

import asyncio
import hashlib
import secrets
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Protocol

from server.auth.tokens import Reason, Rejected

TOKEN_PREFIX = "ggr1_"
MAX_REFRESH_CHARS = 128


@dataclass(frozen=True, slots=True)
class Session:
    sid: str
    account_id: str
    created_at: float
    expires_at: float  # absolute end (SESSION_MAX_AGE), however often it is refreshed
    last_used_at: float
    revoked_at: float | None = None
    revoke_reason: str | None = None

    def live(self, now: float) -> bool:
        return self.revoked_at is None and now < self.expires_at


@dataclass(frozen=True, slots=True)
class RefreshRecord:
    token_hash: str
    sid: str
    issued_at: float
    expires_at: float
    used_at: float | None = None


class RefreshTokenStore(Protocol):
    async def add_session(self, session: Session) -> None: ...

    async def get_session(self, sid: str) -> Session | None: ...

    async def sessions_of(self, account_id: str) -> list[Session]:
        """Every session of the account not yet revoked (expired ones may be included)."""
        ...

    async def touch_session(self, sid: str, now: float) -> None: ...

    async def revoke_sessions(self, sids: Sequence[str], reason: str, now: float) -> list[str]:
        """Revoke those not yet revoked; returns the ones this call revoked."""
        ...

    async def add_token(self, record: RefreshRecord) -> None: ...

    async def get_token(self, token_hash: str) -> RefreshRecord | None: ...

    async def mark_used(self, token_hash: str, now: float) -> bool:
        """Set used_at if it is unset; False if another caller already used the token."""
        ...

    async def prune(self, now: float) -> int:
        """Delete expired tokens and sessions ended before `now`; returns rows removed."""
        ...


class MemoryRefreshTokenStore:
    """In-process store for tests, benchmarks and a server without a database."""

    def __init__(self) -> None:
        self._sessions: dict[str, Session] = {}
        self._tokens: dict[str, RefreshRecord] = {}
        self._lock = asyncio.Lock()

    async def add_session(self, session: Session) -> None:
        self._sessions[session.sid] = session

    async def get_session(self, sid: str) -> Session | None:
        return self._sessions.get(sid)

    async def sessions_of(self, account_id: str) -> list[Session]:
        return [
            s
            for s in self._sessions.values()
            if s.account_id == account_id and s.revoked_at is None
        ]

    async def touch_session(self, sid: str, now: float) -> None:
        s = self._sessions.get(sid)
        if s is not None:
            self._sessions[sid] = replace(s, last_used_at=now)

    async def revoke_sessions(self, sids: Sequence[str], reason: str, now: float) -> list[str]:
        done = []
        for sid in sids:
            s = self._sessions.get(sid)
            if s is not None and s.revoked_at is None:
                self._sessions[sid] = replace(s, revoked_at=now, revoke_reason=reason)
                done.append(sid)
        return done

    async def add_token(self, record: RefreshRecord) -> None:
        self._tokens[record.token_hash] = record

    async def get_token(self, token_hash: str) -> RefreshRecord | None:
        return self._tokens.get(token_hash)

    async def mark_used(self, token_hash: str, now: float) -> bool:
        async with self._lock:
            r = self._tokens.get(token_hash)
            if r is None or r.used_at is not None:
                return False
            self._tokens[token_hash] = replace(r, used_at=now)
            return True

    async def prune(self, now: float) -> int:
        dead_tokens = [h for h, r in self._tokens.items() if r.expires_at <= now]
        for h in dead_tokens:
            del self._tokens[h]
        dead = [
            sid
            for sid, s in self._sessions.items()
            if s.expires_at <= now or (s.revoked_at is not None and s.revoked_at <= now)
        ]
        for sid in dead:
            del self._sessions[sid]
        live_sids = set(self._sessions)
        orphans = [h for h, r in self._tokens.items() if r.sid not in live_sids]
        for h in orphans:
            del self._tokens[h]
        return len(dead_tokens) + len(dead) + len(orphans)


class SessionPolicy(Protocol):
    def to_close(self, live: Sequence[Session], new: Session) -> list[str]:
        """Which of the account's live sessions end because `new` starts."""
        ...


@dataclass(frozen=True, slots=True)
class SingleSession:
    """SINGLE_SESSION=true: a new login ends every other session (Nakama's `single_session`)."""

    def to_close(self, live: Sequence[Session], new: Session) -> list[str]:
        return [s.sid for s in live if s.sid != new.sid]


@dataclass(frozen=True, slots=True)
class SessionLimit:
    """At most `limit` live sessions; the least recently used end first."""

    limit: int

    def to_close(self, live: Sequence[Session], new: Session) -> list[str]:
        others = sorted((s for s in live if s.sid != new.sid), key=lambda s: s.last_used_at)
        excess = len(others) + 1 - self.limit
        return [s.sid for s in others[: max(0, excess)]]


def hash_refresh(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def new_refresh_token() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


@dataclass(frozen=True, slots=True)
class Started:
    session: Session
    refresh_token: str
    closed: list[str]  # sids the policy ended: the caller closes their live sockets


@dataclass(frozen=True, slots=True)
class Rotated:
    session: Session
    refresh_token: str


class Sessions:
    """Starts, rotates and revokes sessions over a `RefreshTokenStore`."""

    def __init__(
        self,
        store: RefreshTokenStore,
        *,
        refresh_ttl: float,
        max_age: float,
        policy: SessionPolicy,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self._ttl = refresh_ttl
        self._max_age = max_age
        self._policy = policy
        self._clock = clock

    async def _issue(self, session: Session, now: float) -> str:
        token = new_refresh_token()
        expires = min(now + self._ttl, session.expires_at)
        await self.store.add_token(RefreshRecord(hash_refresh(token), session.sid, now, expires))
        return token

    async def start(self, account_id: str, *, closed_reason: str = "replaced") -> Started:
        now = self._clock()
        session = Session(secrets.token_hex(12), account_id, now, now + self._max_age, now)
        live = [s for s in await self.store.sessions_of(account_id) if s.live(now)]
        await self.store.add_session(session)
        to_close = self._policy.to_close(live, session)
        closed = await self.store.revoke_sessions(to_close, closed_reason, now) if to_close else []
        return Started(session, await self._issue(session, now), closed)

    async def rotate(self, token: object) -> Rotated | Rejected:
        if (
            not isinstance(token, str)
            or not token.startswith(TOKEN_PREFIX)
            or len(token) > MAX_REFRESH_CHARS
        ):
            return Rejected(Reason.MALFORMED, "not a refresh token")
        now = self._clock()
        h = hash_refresh(token)
        record = await self.store.get_token(h)
        if record is None:
            return Rejected(Reason.UNKNOWN)
        session = await self.store.get_session(record.sid)
        if session is None or session.revoked_at is not None:
            return Rejected(Reason.REVOKED, (session.revoke_reason or "") if session else "")
        if record.used_at is not None or not await self.store.mark_used(h, now):
            await self.store.revoke_sessions([session.sid], "reuse", now)
            return Rejected(Reason.REUSED, sid=session.sid)
        if now >= record.expires_at or now >= session.expires_at:
            return Rejected(Reason.EXPIRED)
        await self.store.touch_session(session.sid, now)
        return Rotated(replace(session, last_used_at=now), await self._issue(session, now))

    async def session_of(self, token: object) -> Session | None:
        """The session a refresh token belongs to (used or not), for logout."""
        if not isinstance(token, str) or len(token) > MAX_REFRESH_CHARS:
            return None
        record = await self.store.get_token(hash_refresh(token))
        return await self.store.get_session(record.sid) if record else None

    async def revoke(self, sids: Sequence[str], reason: str) -> list[str]:
        return await self.store.revoke_sessions(list(sids), reason, self._clock())

    async def revoke_account(self, account_id: str, reason: str) -> list[str]:
        sessions = await self.store.sessions_of(account_id)
        return await self.revoke([s.sid for s in sessions], reason)

    async def is_live(self, sid: str) -> bool:
        session = await self.store.get_session(sid)
        return session is not None and session.live(self._clock())
