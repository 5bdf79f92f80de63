"""Accounts for the auth library (server/auth), login sessions and refresh tokens, admin notes
and warnings.

Why the seed's `accounts` table grows instead of a new one: an account *is* a player (the
token's `sub` is `players.id`), so its row stays keyed by `player_id` and registration writes
the `players` row too. Rows made by the older `CreateAccount` write have no username and are
not accounts the auth library can log in.
Why emails are `email_sealed` plus `email_hash`: with ENCRYPTION_KEY set the address is stored
AES-256-GCM sealed and found by a keyed hash (server/auth/crypto.py); `players.email` stays
NULL for accounts.
Why a permanent ban is `banned_until = 9999-12-31T23:59:59Z`: TIMESTAMPTZ has an `infinity`
but drivers cannot hand it over as a datetime; the storage reads that value back as +inf.
Why `auth_sessions.account_id`, `player_notes.account_id` and `player_warnings.account_id`
have no foreign key: a session store serves any principal id (external providers come later),
and an administrator may note or warn a guest player who has no account row.
"""

VERSION = 6
NAME = "accounts auth columns, identities, auth sessions, refresh tokens, notes, warnings"
STATEMENTS = (
    """
    ALTER TABLE accounts
        ADD COLUMN username VARCHAR(64),
        ADD COLUMN display_name VARCHAR(100),
        ADD COLUMN email_sealed TEXT,
        ADD COLUMN email_hash VARCHAR(128),
        ADD COLUMN role VARCHAR(32) NOT NULL DEFAULT 'player',
        ADD COLUMN tier VARCHAR(16) NOT NULL DEFAULT 'free' CHECK (tier IN ('free', 'premium')),
        ADD COLUMN banned_until TIMESTAMPTZ,
        ADD COLUMN ban_reason TEXT,
        ADD COLUMN banned_by VARCHAR(100),
        ADD COLUMN banned_at TIMESTAMPTZ
    """,
    "CREATE UNIQUE INDEX accounts_username_key ON accounts (username)",
    "CREATE UNIQUE INDEX accounts_email_hash_key ON accounts (email_hash)",
    "CREATE INDEX accounts_banned_idx ON accounts (banned_until) WHERE banned_until IS NOT NULL",
    """
    CREATE TABLE account_identities (
        provider VARCHAR(32) NOT NULL,
        subject VARCHAR(255) NOT NULL,
        account_id UUID NOT NULL REFERENCES accounts(player_id) ON DELETE CASCADE,
        created_at TIMESTAMPTZ NOT NULL,
        PRIMARY KEY (provider, subject)
    )
    """,
    "CREATE INDEX account_identities_account_idx ON account_identities (account_id)",
    """
    CREATE TABLE auth_sessions (
        sid VARCHAR(64) PRIMARY KEY,
        account_id VARCHAR(64) NOT NULL,
        created_at TIMESTAMPTZ NOT NULL,
        expires_at TIMESTAMPTZ NOT NULL,
        last_used_at TIMESTAMPTZ NOT NULL,
        revoked_at TIMESTAMPTZ,
        revoke_reason VARCHAR(32)
    )
    """,
    "CREATE INDEX auth_sessions_live_idx ON auth_sessions (account_id) WHERE revoked_at IS NULL",
    "CREATE INDEX auth_sessions_expires_idx ON auth_sessions (expires_at)",
    """
    CREATE TABLE auth_refresh_tokens (
        token_hash VARCHAR(64) PRIMARY KEY,
        sid VARCHAR(64) NOT NULL REFERENCES auth_sessions(sid) ON DELETE CASCADE,
        issued_at TIMESTAMPTZ NOT NULL,
        expires_at TIMESTAMPTZ NOT NULL,
        used_at TIMESTAMPTZ
    )
    """,
    "CREATE INDEX auth_refresh_tokens_sid_idx ON auth_refresh_tokens (sid)",
    "CREATE INDEX auth_refresh_tokens_expires_idx ON auth_refresh_tokens (expires_at)",
    """
    CREATE TABLE player_notes (
        id UUID PRIMARY KEY,
        account_id VARCHAR(64) NOT NULL,
        author VARCHAR(100) NOT NULL,
        text TEXT NOT NULL,
        created_at TIMESTAMPTZ NOT NULL
    )
    """,
    "CREATE INDEX player_notes_account_idx ON player_notes (account_id, created_at)",
    """
    CREATE TABLE player_warnings (
        id UUID PRIMARY KEY,
        account_id VARCHAR(64) NOT NULL,
        author VARCHAR(100) NOT NULL,
        reason TEXT NOT NULL,
        created_at TIMESTAMPTZ NOT NULL,
        acknowledged_at TIMESTAMPTZ
    )
    """,
    "CREATE INDEX player_warnings_account_idx ON player_warnings (account_id, created_at)",
)
