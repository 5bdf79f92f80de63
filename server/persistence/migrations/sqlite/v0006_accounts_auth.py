"""Accounts for the auth library, login sessions and refresh tokens, admin notes and warnings
(see the PostgreSQL migration of the same version for why); SQLite's types, same columns."""

VERSION = 6
NAME = "accounts auth columns, identities, auth sessions, refresh tokens, notes, warnings"
STATEMENTS = (
    "ALTER TABLE accounts ADD COLUMN username TEXT",
    "ALTER TABLE accounts ADD COLUMN display_name TEXT",
    "ALTER TABLE accounts ADD COLUMN email_sealed TEXT",
    "ALTER TABLE accounts ADD COLUMN email_hash TEXT",
    "ALTER TABLE accounts ADD COLUMN role TEXT NOT NULL DEFAULT 'player'",
    "ALTER TABLE accounts ADD COLUMN tier TEXT NOT NULL DEFAULT 'free'"
    " CHECK (tier IN ('free', 'premium'))",
    "ALTER TABLE accounts ADD COLUMN banned_until REAL",
    "ALTER TABLE accounts ADD COLUMN ban_reason TEXT",
    "ALTER TABLE accounts ADD COLUMN banned_by TEXT",
    "ALTER TABLE accounts ADD COLUMN banned_at REAL",
    "CREATE UNIQUE INDEX accounts_username_key ON accounts (username)",
    "CREATE UNIQUE INDEX accounts_email_hash_key ON accounts (email_hash)",
    "CREATE INDEX accounts_banned_idx ON accounts (banned_until) WHERE banned_until IS NOT NULL",
    """
    CREATE TABLE account_identities (
        provider TEXT NOT NULL,
        subject TEXT NOT NULL,
        account_id TEXT NOT NULL REFERENCES accounts(player_id) ON DELETE CASCADE,
        created_at REAL NOT NULL,
        PRIMARY KEY (provider, subject)
    )
    """,
    "CREATE INDEX account_identities_account_idx ON account_identities (account_id)",
    """
    CREATE TABLE auth_sessions (
        sid TEXT PRIMARY KEY,
        account_id TEXT NOT NULL,
        created_at REAL NOT NULL,
        expires_at REAL NOT NULL,
        last_used_at REAL NOT NULL,
        revoked_at REAL,
        revoke_reason TEXT
    )
    """,
    "CREATE INDEX auth_sessions_live_idx ON auth_sessions (account_id) WHERE revoked_at IS NULL",
    "CREATE INDEX auth_sessions_expires_idx ON auth_sessions (expires_at)",
    """
    CREATE TABLE auth_refresh_tokens (
        token_hash TEXT PRIMARY KEY,
        sid TEXT NOT NULL REFERENCES auth_sessions(sid) ON DELETE CASCADE,
        issued_at REAL NOT NULL,
        expires_at REAL NOT NULL,
        used_at REAL
    )
    """,
    "CREATE INDEX auth_refresh_tokens_sid_idx ON auth_refresh_tokens (sid)",
    "CREATE INDEX auth_refresh_tokens_expires_idx ON auth_refresh_tokens (expires_at)",
    """
    CREATE TABLE player_notes (
        id TEXT PRIMARY KEY,
        account_id TEXT NOT NULL,
        author TEXT NOT NULL,
        text TEXT NOT NULL,
        created_at REAL NOT NULL
    )
    """,
    "CREATE INDEX player_notes_account_idx ON player_notes (account_id, created_at)",
    """
    CREATE TABLE player_warnings (
        id TEXT PRIMARY KEY,
        account_id TEXT NOT NULL,
        author TEXT NOT NULL,
        reason TEXT NOT NULL,
        created_at REAL NOT NULL,
        acknowledged_at REAL
    )
    """,
    "CREATE INDEX player_warnings_account_idx ON player_warnings (account_id, created_at)",
)
