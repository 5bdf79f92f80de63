"""`AuthStorage` (auth_storage.py) in process memory, mixed into `MemoryStorage`.

Same rules as the SQL version (auth_sql.py), checked by the same contract tests
(tests/persistence/test_auth_store.py): account ids are canonical UUIDs, an account creates its
player, a username held by a player is taken, `mark_used` wins once.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence

from server.auth.accounts import Account, AccountExists
from server.auth.permissions import Tier
from server.auth.sessions import RefreshRecord, Session
from server.persistence.auth_sql import as_uuid
from server.persistence.auth_storage import FOREVER
from server.persistence.models import PlayerNote, PlayerWarning
from server.persistence.ops import CreatePlayer

_UPDATABLE = frozenset(
    {
        "password_hash",
        "role",
        "tier",
        "display_name",
        "banned_until",
        "ban_reason",
        "banned_by",
        "banned_at",
    }
)


class AuthMemory:
    def _auth_init(self) -> None:
        self._auth_accounts: dict[str, Account] = {}
        self._auth_usernames: dict[str, str] = {}
        self._auth_emails: dict[str, str] = {}
        self._auth_identities: dict[tuple[str, str], str] = {}
        self._auth_sessions: dict[str, Session] = {}
        self._auth_tokens: dict[str, RefreshRecord] = {}
        self._notes: dict[str, PlayerNote] = {}
        self._warnings: dict[str, PlayerWarning] = {}

    # hooks MemoryStorage provides
    def _player_named(self, name: str) -> bool:
        raise NotImplementedError

    def _create_player(self, op: CreatePlayer) -> None:
        raise NotImplementedError

    # --- accounts ---
    @staticmethod
    def _stored(account: Account) -> Account:
        until = account.banned_until
        if until is not None and (math.isinf(until) or until > FOREVER):
            account = dataclasses.replace(account, banned_until=math.inf)
        return dataclasses.replace(account, tier=Tier(account.tier))

    async def auth_create_account(self, account: Account) -> None:
        if as_uuid(account.id) != account.id:
            raise ValueError("an account id is a UUID in canonical form (it is players.id)")
        if account.username in self._auth_usernames:
            raise AccountExists("username")
        if account.email_hash in self._auth_emails:
            raise AccountExists("email")
        if self._player_named(account.username):
            raise AccountExists("username")
        self._create_player(CreatePlayer(account.id, account.username, account.created_at))
        self._auth_accounts[account.id] = self._stored(account)
        self._auth_usernames[account.username] = account.id
        self._auth_emails[account.email_hash] = account.id

    async def auth_account(self, account_id: str) -> Account | None:
        return self._auth_accounts.get(account_id)

    async def auth_account_by_username(self, username: str) -> Account | None:
        aid = self._auth_usernames.get(username)
        return None if aid is None else self._auth_accounts.get(aid)

    async def auth_account_by_email_hash(self, email_hash: str) -> Account | None:
        aid = self._auth_emails.get(email_hash)
        return None if aid is None else self._auth_accounts.get(aid)

    async def auth_update_account(self, account_id: str, **changes: object) -> None:
        account = self._auth_accounts.get(account_id)
        if account is None:
            raise KeyError(account_id)
        bad = set(changes) - _UPDATABLE
        if bad:
            raise ValueError(f"accounts.{sorted(bad)[0]} cannot be set")
        new = dataclasses.replace(account, **changes)  # type: ignore[arg-type]
        self._auth_accounts[account_id] = self._stored(new)

    async def auth_link_identity(
        self, provider: str, subject: str, account_id: str, at: float
    ) -> None:
        if account_id not in self._auth_accounts:
            raise KeyError(account_id)
        self._auth_identities[(provider, subject)] = account_id

    async def auth_account_by_identity(self, provider: str, subject: str) -> Account | None:
        aid = self._auth_identities.get((provider, subject))
        return None if aid is None else self._auth_accounts.get(aid)

    async def auth_banned(self, now: float, limit: int = 100) -> list[Account]:
        banned = [a for a in self._auth_accounts.values() if a.banned(now)]
        banned.sort(key=lambda a: (-(a.banned_at or -math.inf), a.id))
        return banned[:limit]

    # --- sessions and refresh tokens ---
    async def auth_add_session(self, session: Session) -> None:
        if session.sid in self._auth_sessions:
            raise ValueError(f"session {session.sid} exists")
        self._auth_sessions[session.sid] = session

    async def auth_session(self, sid: str) -> Session | None:
        return self._auth_sessions.get(sid)

    async def auth_sessions_of(self, account_id: str) -> list[Session]:
        live = [
            s
            for s in self._auth_sessions.values()
            if s.account_id == account_id and s.revoked_at is None
        ]
        return sorted(live, key=lambda s: (s.created_at, s.sid))

    async def auth_touch_session(self, sid: str, now: float) -> None:
        s = self._auth_sessions.get(sid)
        if s is not None:
            self._auth_sessions[sid] = dataclasses.replace(s, last_used_at=now)

    async def auth_revoke_sessions(self, sids: Sequence[str], reason: str, now: float) -> list[str]:
        done = []
        for sid in sids:
            s = self._auth_sessions.get(sid)
            if s is not None and s.revoked_at is None:
                self._auth_sessions[sid] = dataclasses.replace(
                    s, revoked_at=now, revoke_reason=reason[:32]
                )
                done.append(sid)
        return done

    async def auth_add_token(self, record: RefreshRecord) -> None:
        if record.sid not in self._auth_sessions:
            raise KeyError(f"no session {record.sid}")  # the SQL foreign key
        self._auth_tokens[record.token_hash] = record

    async def auth_token(self, token_hash: str) -> RefreshRecord | None:
        return self._auth_tokens.get(token_hash)

    async def auth_mark_used(self, token_hash: str, now: float) -> bool:
        # No await between the check and the write: nothing can interleave.
        r = self._auth_tokens.get(token_hash)
        if r is None or r.used_at is not None:
            return False
        self._auth_tokens[token_hash] = dataclasses.replace(r, used_at=now)
        return True

    async def auth_prune(self, now: float) -> int:
        expired = [h for h, r in self._auth_tokens.items() if r.expires_at <= now]
        for h in expired:
            del self._auth_tokens[h]
        dead = {
            sid
            for sid, s in self._auth_sessions.items()
            if s.expires_at <= now or (s.revoked_at is not None and s.revoked_at <= now)
        }
        orphans = [h for h, r in self._auth_tokens.items() if r.sid in dead]
        for h in orphans:
            del self._auth_tokens[h]
        for sid in dead:
            del self._auth_sessions[sid]
        return len(expired) + len(orphans) + len(dead)

    # --- admin notes and warnings ---
    async def add_player_note(self, note: PlayerNote) -> None:
        self._notes[note.note_id] = note

    async def player_notes(self, account_id: str, limit: int = 100) -> list[PlayerNote]:
        notes = [n for n in self._notes.values() if n.account_id == account_id]
        notes.sort(key=lambda n: (-n.created_at, n.note_id))
        return notes[:limit]

    async def delete_player_note(self, note_id: str) -> bool:
        return self._notes.pop(note_id, None) is not None

    async def add_player_warning(self, warning: PlayerWarning) -> None:
        self._warnings[warning.warning_id] = warning

    async def player_warnings(
        self, account_id: str, limit: int = 100, *, unacknowledged: bool = False
    ) -> list[PlayerWarning]:
        found = [
            w
            for w in self._warnings.values()
            if w.account_id == account_id and not (unacknowledged and w.acknowledged_at is not None)
        ]
        found.sort(key=lambda w: (-w.created_at, w.warning_id))
        return found[:limit]

    async def acknowledge_warning(self, warning_id: str, now: float) -> bool:
        w = self._warnings.get(warning_id)
        if w is None or w.acknowledged_at is not None:
            return False
        self._warnings[warning_id] = dataclasses.replace(w, acknowledged_at=now)
        return True
