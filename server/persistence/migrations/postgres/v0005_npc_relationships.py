"""NPC relationships with players, and the index that finds an NPC's weightiest memories.

Why keyed by `npc_key` (the NPC's stable identity key, e.g. `npc:<seed>:<slot>` or
`pin:<id>`) and not a net id: net ids are reused after a despawn, a relationship must not pass
to whoever gets the id next. `updated_at` orders writes: a replayed older write is ignored.
"""

VERSION = 5
NAME = "npc_relationships, npc_memories weight index"
STATEMENTS = (
    """
    CREATE TABLE npc_relationships (
        npc_key VARCHAR(100) NOT NULL,
        player_id UUID NOT NULL REFERENCES players(id) ON DELETE CASCADE,
        affinity INTEGER NOT NULL DEFAULT 0 CHECK (affinity BETWEEN -100 AND 100),
        trust INTEGER NOT NULL DEFAULT 0 CHECK (trust BETWEEN -100 AND 100),
        conversations INTEGER NOT NULL DEFAULT 0 CHECK (conversations >= 0),
        updated_at TIMESTAMPTZ NOT NULL,
        PRIMARY KEY (npc_key, player_id)
    )
    """,
    "CREATE INDEX npc_relationships_player_idx ON npc_relationships (player_id)",
    "CREATE INDEX npc_memories_npc_weight_idx ON npc_memories"
    " (npc_id, emotional_weight DESC, created_at DESC)",
)
