"""NPC relationships with players and the memory weight index (see the PostgreSQL migration
of the same version for why); SQLite's types, same columns."""

VERSION = 5
NAME = "npc_relationships, npc_memories weight index"
STATEMENTS = (
    """
    CREATE TABLE npc_relationships (
        npc_key TEXT NOT NULL,
        player_id TEXT NOT NULL REFERENCES players(id) ON DELETE CASCADE,
        affinity INTEGER NOT NULL DEFAULT 0 CHECK (affinity BETWEEN -100 AND 100),
        trust INTEGER NOT NULL DEFAULT 0 CHECK (trust BETWEEN -100 AND 100),
        conversations INTEGER NOT NULL DEFAULT 0 CHECK (conversations >= 0),
        updated_at REAL NOT NULL,
        PRIMARY KEY (npc_key, player_id)
    )
    """,
    "CREATE INDEX npc_relationships_player_idx ON npc_relationships (player_id)",
    "CREATE INDEX npc_memories_npc_weight_idx ON npc_memories"
    " (npc_id, emotional_weight DESC, created_at DESC)",
)
