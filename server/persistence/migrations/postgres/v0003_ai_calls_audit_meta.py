"""AI call accounting, the admin audit log, and the database's own identity.

Why `ganggpt_meta.database_id`: a random id made once, when the schema is first created, names
this database whatever URL reaches it; the outage journal records it and refuses to replay into
a database with another id (a journal belongs to exactly one database).
Why `ai_calls.player_id` has no foreign key: an accounting row must never be refused (or lost)
because its player was deleted or is still waiting in the journal.
"""

VERSION = 3
NAME = "ai_calls, admin_audit, ganggpt_meta"
STATEMENTS = (
    "CREATE TABLE ganggpt_meta (key VARCHAR(100) PRIMARY KEY, value TEXT NOT NULL)",
    "INSERT INTO ganggpt_meta (key, value) VALUES ('database_id', gen_random_uuid()::text)",
    """
    CREATE TABLE ai_calls (
        id UUID PRIMARY KEY,
        provider VARCHAR(50) NOT NULL,
        model VARCHAR(100) NOT NULL,
        purpose VARCHAR(50) NOT NULL,
        prompt_hash VARCHAR(128) NOT NULL,
        tokens_in INTEGER NOT NULL DEFAULT 0 CHECK (tokens_in >= 0),
        tokens_out INTEGER NOT NULL DEFAULT 0 CHECK (tokens_out >= 0),
        latency_ms INTEGER NOT NULL DEFAULT 0 CHECK (latency_ms >= 0),
        outcome VARCHAR(16) NOT NULL
            CHECK (outcome IN ('ok', 'timeout', 'error', 'fallback', 'invalid')),
        player_id UUID,
        npc_id VARCHAR(100),
        created_at TIMESTAMPTZ NOT NULL
    )
    """,
    "CREATE INDEX ai_calls_created_idx ON ai_calls (created_at)",
    "CREATE INDEX ai_calls_player_idx ON ai_calls (player_id, created_at) WHERE player_id IS NOT NULL",
    "CREATE INDEX ai_calls_npc_idx ON ai_calls (npc_id, created_at) WHERE npc_id IS NOT NULL",
    """
    CREATE TABLE admin_audit (
        id UUID PRIMARY KEY,
        actor VARCHAR(100) NOT NULL,
        action VARCHAR(100) NOT NULL,
        target VARCHAR(255),
        details JSONB NOT NULL DEFAULT '{}',
        result VARCHAR(255) NOT NULL,
        created_at TIMESTAMPTZ NOT NULL
    )
    """,
    "CREATE INDEX admin_audit_created_idx ON admin_audit (created_at)",
    "CREATE INDEX admin_audit_actor_idx ON admin_audit (actor, created_at)",
)
