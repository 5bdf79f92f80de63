"""Same tables as PostgreSQL v1, in SQLite's types: UUIDs and JSON as TEXT, times as REAL unix
seconds, intervals as REAL seconds. Kept column-for-column with PostgreSQL so one set of
queries (and one contract test suite) serves both."""

VERSION = 1
NAME = "initial schema"
STATEMENTS = (
    """
    CREATE TABLE players (
        id TEXT PRIMARY KEY,
        username TEXT UNIQUE NOT NULL,
        email TEXT UNIQUE,
        created_at REAL NOT NULL,
        last_login REAL,
        subscription_tier TEXT NOT NULL DEFAULT 'free',
        total_playtime REAL NOT NULL DEFAULT 0
    )
    """,
    """
    CREATE TABLE player_state (
        player_id TEXT PRIMARY KEY REFERENCES players(id) ON DELETE CASCADE,
        x REAL NOT NULL DEFAULT 0,
        y REAL NOT NULL DEFAULT 0,
        z REAL NOT NULL DEFAULT 0,
        heading REAL NOT NULL DEFAULT 0,
        health INTEGER NOT NULL DEFAULT 100,
        armor INTEGER NOT NULL DEFAULT 0,
        money INTEGER NOT NULL DEFAULT 0,
        has_position INTEGER NOT NULL DEFAULT 0,
        snapshot_at REAL NOT NULL DEFAULT 0,
        money_changed_at REAL NOT NULL DEFAULT 0,
        last_seen REAL
    )
    """,
    "CREATE INDEX player_state_last_seen_idx ON player_state (last_seen)",
    """
    CREATE TABLE accounts (
        player_id TEXT PRIMARY KEY REFERENCES players(id) ON DELETE CASCADE,
        password_hash TEXT NOT NULL,
        created_at REAL NOT NULL,
        updated_at REAL NOT NULL
    )
    """,
    """
    CREATE TABLE money_ledger (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        event_id TEXT NOT NULL UNIQUE,
        player_id TEXT NOT NULL REFERENCES players(id) ON DELETE CASCADE,
        delta INTEGER NOT NULL,
        balance_after INTEGER NOT NULL,
        reason TEXT NOT NULL,
        created_at REAL NOT NULL
    )
    """,
    "CREATE INDEX money_ledger_player_idx ON money_ledger (player_id, id)",
    """
    CREATE TABLE factions (
        name TEXT PRIMARY KEY,
        display_name TEXT NOT NULL,
        created_at REAL NOT NULL
    )
    """,
    """
    CREATE TABLE faction_members (
        player_id TEXT PRIMARY KEY REFERENCES players(id) ON DELETE CASCADE,
        faction TEXT NOT NULL REFERENCES factions(name) ON DELETE CASCADE,
        rank TEXT NOT NULL DEFAULT 'member',
        joined_at REAL NOT NULL
    )
    """,
    "CREATE INDEX faction_members_faction_idx ON faction_members (faction)",
    """
    CREATE TABLE faction_relationships (
        id TEXT PRIMARY KEY,
        faction_a TEXT NOT NULL,
        faction_b TEXT NOT NULL,
        relationship_type TEXT NOT NULL,
        strength INTEGER CHECK (strength BETWEEN -100 AND 100),
        last_updated REAL,
        UNIQUE (faction_a, faction_b)
    )
    """,
    "CREATE INDEX faction_relationships_b_idx ON faction_relationships (faction_b)",
    """
    CREATE TABLE missions (
        id TEXT PRIMARY KEY,
        title TEXT NOT NULL,
        description TEXT,
        generated_by TEXT DEFAULT 'ai',
        difficulty INTEGER CHECK (difficulty BETWEEN 1 AND 10),
        estimated_duration REAL,
        reward_pool INTEGER DEFAULT 0,
        faction_impact TEXT,
        created_at REAL,
        expires_at REAL
    )
    """,
    "CREATE INDEX missions_expires_idx ON missions (expires_at) WHERE expires_at IS NOT NULL",
    """
    CREATE TABLE mission_assignments (
        mission_id TEXT NOT NULL REFERENCES missions(id) ON DELETE CASCADE,
        player_id TEXT NOT NULL REFERENCES players(id) ON DELETE CASCADE,
        status TEXT NOT NULL DEFAULT 'active'
            CHECK (status IN ('active', 'completed', 'failed', 'abandoned')),
        assigned_at REAL NOT NULL,
        completed_at REAL,
        reward_paid INTEGER NOT NULL DEFAULT 0,
        PRIMARY KEY (mission_id, player_id)
    )
    """,
    "CREATE INDEX mission_assignments_player_idx ON mission_assignments (player_id, status)",
    """
    CREATE TABLE companions (
        id TEXT PRIMARY KEY,
        player_id TEXT REFERENCES players(id) ON DELETE CASCADE,
        name TEXT NOT NULL,
        companion_type TEXT NOT NULL,
        personality TEXT NOT NULL,
        experience_points INTEGER DEFAULT 0,
        loyalty_level INTEGER DEFAULT 50,
        memory_data TEXT,
        created_at REAL
    )
    """,
    "CREATE INDEX companions_player_idx ON companions (player_id)",
    """
    CREATE TABLE resume_sessions (
        token TEXT PRIMARY KEY,
        player_id TEXT NOT NULL,
        name TEXT NOT NULL,
        expires_at REAL NOT NULL,
        data TEXT NOT NULL DEFAULT '{}'
    )
    """,
    "CREATE INDEX resume_sessions_expires_idx ON resume_sessions (expires_at)",
)
