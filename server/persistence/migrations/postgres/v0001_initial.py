"""Players and their live state, accounts, money ledger, factions, missions, companions, sessions.

Tables from the seed keep their columns; timestamps are TIMESTAMPTZ (not TIMESTAMP) so that a
server in another time zone cannot shift them, and `players.email` is nullable because guests
have none. `player_state` is separate from `players` because it is rewritten every snapshot
interval while identity rows almost never change (less bloat, HOT updates).
"""

VERSION = 1
NAME = "initial schema"
STATEMENTS = (
    """
    CREATE TABLE players (
        id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
        username VARCHAR(50) UNIQUE NOT NULL,
        email VARCHAR(255) UNIQUE,
        created_at TIMESTAMPTZ NOT NULL DEFAULT CURRENT_TIMESTAMP,
        last_login TIMESTAMPTZ,
        subscription_tier VARCHAR(20) NOT NULL DEFAULT 'free',
        total_playtime INTERVAL NOT NULL DEFAULT '0 minutes'
    )
    """,
    """
    CREATE TABLE player_state (
        player_id UUID PRIMARY KEY REFERENCES players(id) ON DELETE CASCADE,
        x DOUBLE PRECISION NOT NULL DEFAULT 0,
        y DOUBLE PRECISION NOT NULL DEFAULT 0,
        z DOUBLE PRECISION NOT NULL DEFAULT 0,
        heading DOUBLE PRECISION NOT NULL DEFAULT 0,
        health INTEGER NOT NULL DEFAULT 100,
        armor INTEGER NOT NULL DEFAULT 0,
        money BIGINT NOT NULL DEFAULT 0,
        has_position BOOLEAN NOT NULL DEFAULT FALSE,
        snapshot_at TIMESTAMPTZ NOT NULL DEFAULT 'epoch',
        money_changed_at TIMESTAMPTZ NOT NULL DEFAULT 'epoch',
        last_seen TIMESTAMPTZ
    ) WITH (fillfactor = 80)
    """,
    "CREATE INDEX player_state_last_seen_idx ON player_state (last_seen)",
    """
    CREATE TABLE accounts (
        player_id UUID PRIMARY KEY REFERENCES players(id) ON DELETE CASCADE,
        password_hash TEXT NOT NULL,
        created_at TIMESTAMPTZ NOT NULL DEFAULT CURRENT_TIMESTAMP,
        updated_at TIMESTAMPTZ NOT NULL DEFAULT CURRENT_TIMESTAMP
    )
    """,
    """
    CREATE TABLE money_ledger (
        id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        event_id UUID NOT NULL UNIQUE,
        player_id UUID NOT NULL REFERENCES players(id) ON DELETE CASCADE,
        delta BIGINT NOT NULL,
        balance_after BIGINT NOT NULL,
        reason VARCHAR(100) NOT NULL,
        created_at TIMESTAMPTZ NOT NULL
    )
    """,
    "CREATE INDEX money_ledger_player_idx ON money_ledger (player_id, id)",
    """
    CREATE TABLE factions (
        name VARCHAR(100) PRIMARY KEY,
        display_name VARCHAR(100) NOT NULL,
        created_at TIMESTAMPTZ NOT NULL DEFAULT CURRENT_TIMESTAMP
    )
    """,
    """
    CREATE TABLE faction_members (
        player_id UUID PRIMARY KEY REFERENCES players(id) ON DELETE CASCADE,
        faction VARCHAR(100) NOT NULL REFERENCES factions(name) ON DELETE CASCADE,
        rank VARCHAR(50) NOT NULL DEFAULT 'member',
        joined_at TIMESTAMPTZ NOT NULL
    )
    """,
    "CREATE INDEX faction_members_faction_idx ON faction_members (faction)",
    """
    CREATE TABLE faction_relationships (
        id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
        faction_a VARCHAR(100) NOT NULL,
        faction_b VARCHAR(100) NOT NULL,
        relationship_type VARCHAR(50) NOT NULL,
        strength INTEGER CHECK (strength BETWEEN -100 AND 100),
        last_updated TIMESTAMPTZ DEFAULT CURRENT_TIMESTAMP,
        UNIQUE (faction_a, faction_b)
    )
    """,
    "CREATE INDEX faction_relationships_b_idx ON faction_relationships (faction_b)",
    """
    CREATE TABLE missions (
        id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
        title VARCHAR(255) NOT NULL,
        description TEXT,
        generated_by VARCHAR(50) DEFAULT 'ai',
        difficulty INTEGER CHECK (difficulty BETWEEN 1 AND 10),
        estimated_duration INTERVAL,
        reward_pool INTEGER DEFAULT 0,
        faction_impact JSONB,
        created_at TIMESTAMPTZ DEFAULT CURRENT_TIMESTAMP,
        expires_at TIMESTAMPTZ
    )
    """,
    "CREATE INDEX missions_expires_idx ON missions (expires_at) WHERE expires_at IS NOT NULL",
    """
    CREATE TABLE mission_assignments (
        mission_id UUID NOT NULL REFERENCES missions(id) ON DELETE CASCADE,
        player_id UUID NOT NULL REFERENCES players(id) ON DELETE CASCADE,
        status VARCHAR(20) NOT NULL DEFAULT 'active'
            CHECK (status IN ('active', 'completed', 'failed', 'abandoned')),
        assigned_at TIMESTAMPTZ NOT NULL,
        completed_at TIMESTAMPTZ,
        reward_paid BIGINT NOT NULL DEFAULT 0,
        PRIMARY KEY (mission_id, player_id)
    )
    """,
    "CREATE INDEX mission_assignments_player_idx ON mission_assignments (player_id, status)",
    """
    CREATE TABLE companions (
        id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
        player_id UUID REFERENCES players(id) ON DELETE CASCADE,
        name VARCHAR(100) NOT NULL,
        companion_type VARCHAR(50) NOT NULL,
        personality JSONB NOT NULL,
        experience_points INTEGER DEFAULT 0,
        loyalty_level INTEGER DEFAULT 50,
        memory_data JSONB,
        created_at TIMESTAMPTZ DEFAULT CURRENT_TIMESTAMP
    )
    """,
    "CREATE INDEX companions_player_idx ON companions (player_id)",
    """
    CREATE TABLE resume_sessions (
        token VARCHAR(128) PRIMARY KEY,
        player_id UUID NOT NULL,
        name VARCHAR(64) NOT NULL,
        expires_at TIMESTAMPTZ NOT NULL,
        data JSONB NOT NULL DEFAULT '{}'
    )
    """,
    "CREATE INDEX resume_sessions_expires_idx ON resume_sessions (expires_at)",
)
