"""AI call accounting, the admin audit log and the database's identity (see the PostgreSQL
migration of the same version for why); SQLite's types, same columns."""

VERSION = 3
NAME = "ai_calls, admin_audit, ganggpt_meta"
STATEMENTS = (
    "CREATE TABLE ganggpt_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
    "INSERT INTO ganggpt_meta (key, value) VALUES ('database_id', lower(hex(randomblob(16))))",
    """
    CREATE TABLE ai_calls (
        id TEXT PRIMARY KEY,
        provider TEXT NOT NULL,
        model TEXT NOT NULL,
        purpose TEXT NOT NULL,
        prompt_hash TEXT NOT NULL,
        tokens_in INTEGER NOT NULL DEFAULT 0 CHECK (tokens_in >= 0),
        tokens_out INTEGER NOT NULL DEFAULT 0 CHECK (tokens_out >= 0),
        latency_ms INTEGER NOT NULL DEFAULT 0 CHECK (latency_ms >= 0),
        outcome TEXT NOT NULL
            CHECK (outcome IN ('ok', 'timeout', 'error', 'fallback', 'invalid')),
        player_id TEXT,
        npc_id TEXT,
        created_at REAL NOT NULL
    )
    """,
    "CREATE INDEX ai_calls_created_idx ON ai_calls (created_at)",
    "CREATE INDEX ai_calls_player_idx ON ai_calls (player_id, created_at) WHERE player_id IS NOT NULL",
    "CREATE INDEX ai_calls_npc_idx ON ai_calls (npc_id, created_at) WHERE npc_id IS NOT NULL",
    """
    CREATE TABLE admin_audit (
        id TEXT PRIMARY KEY,
        actor TEXT NOT NULL,
        action TEXT NOT NULL,
        target TEXT,
        details TEXT NOT NULL DEFAULT '{}',
        result TEXT NOT NULL,
        created_at REAL NOT NULL
    )
    """,
    "CREATE INDEX admin_audit_created_idx ON admin_audit (created_at)",
    "CREATE INDEX admin_audit_actor_idx ON admin_audit (actor, created_at)",
)
