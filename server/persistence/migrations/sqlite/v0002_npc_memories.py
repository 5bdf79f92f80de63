"""NPC memories. Not partitioned: SQLite has no partitioning, and the embedded server is for
small worlds; expired rows are purged by `maintain` instead."""

VERSION = 2
NAME = "npc_memories"
STATEMENTS = (
    """
    CREATE TABLE npc_memories (
        id TEXT PRIMARY KEY,
        npc_id TEXT NOT NULL,
        player_id TEXT REFERENCES players(id) ON DELETE CASCADE,
        memory_type TEXT NOT NULL,
        content TEXT NOT NULL,
        emotional_weight INTEGER DEFAULT 50,
        created_at REAL NOT NULL,
        expires_at REAL
    )
    """,
    "CREATE INDEX npc_memories_npc_player_idx ON npc_memories (npc_id, player_id, created_at DESC)",
    "CREATE INDEX npc_memories_expires_idx ON npc_memories (expires_at) WHERE expires_at IS NOT NULL",
)
