"""Mission lifecycle and idempotency keys (see the PostgreSQL migration of the same version
for why); SQLite's types, same columns."""

VERSION = 4
NAME = "applied_events, mission_offers"
STATEMENTS = (
    """
    CREATE TABLE applied_events (
        event_id TEXT PRIMARY KEY,
        kind TEXT NOT NULL,
        created_at REAL NOT NULL
    )
    """,
    """
    CREATE TABLE mission_offers (
        mission_id TEXT PRIMARY KEY REFERENCES missions(id) ON DELETE CASCADE,
        player_id TEXT NOT NULL REFERENCES players(id) ON DELETE CASCADE,
        state TEXT NOT NULL
            CHECK (state IN ('offered', 'accepted', 'completed', 'failed', 'expired')),
        spec TEXT NOT NULL,
        giver_faction TEXT,
        offered_at REAL NOT NULL,
        expires_at REAL,
        accepted_at REAL,
        deadline REAL,
        ended_at REAL,
        reason TEXT
    )
    """,
    "CREATE INDEX mission_offers_player_idx ON mission_offers (player_id, offered_at)",
    "CREATE INDEX mission_offers_open_idx ON mission_offers (offered_at)"
    " WHERE state IN ('offered', 'accepted')",
)
