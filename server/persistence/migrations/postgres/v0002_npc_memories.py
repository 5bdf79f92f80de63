"""NPC memories, range-partitioned by month on `created_at`.

Why partitioned: memories are the one table that grows without bound (every conversation adds
rows) and they are read newest first and expire; monthly partitions keep the hot indexes small
and let old months be dropped or archived whole instead of by huge DELETEs. PostgreSQL needs
the partition key in every unique constraint, hence the primary key (id, created_at).
Partitions are created ahead by `ganggpt_ensure_npc_memory_partitions(months_ahead)`, which
the server calls at start and then periodically; a write for a month without a partition
(a journal replayed long after) creates its month first.
"""

VERSION = 2
NAME = "npc_memories partitioned by month"
STATEMENTS = (
    """
    CREATE TABLE npc_memories (
        id UUID NOT NULL DEFAULT gen_random_uuid(),
        npc_id VARCHAR(100) NOT NULL,
        player_id UUID REFERENCES players(id) ON DELETE CASCADE,
        memory_type VARCHAR(50) NOT NULL,
        content JSONB NOT NULL,
        emotional_weight INTEGER DEFAULT 50,
        created_at TIMESTAMPTZ NOT NULL DEFAULT CURRENT_TIMESTAMP,
        expires_at TIMESTAMPTZ,
        PRIMARY KEY (id, created_at)
    ) PARTITION BY RANGE (created_at)
    """,
    "CREATE INDEX npc_memories_npc_player_idx ON npc_memories (npc_id, player_id, created_at DESC)",
    "CREATE INDEX npc_memories_expires_idx ON npc_memories (expires_at) WHERE expires_at IS NOT NULL",
    """
    CREATE OR REPLACE FUNCTION ganggpt_ensure_npc_memory_partition(at TIMESTAMPTZ)
    RETURNS TEXT LANGUAGE plpgsql AS $fn$
    DECLARE
        month_start TIMESTAMP := date_trunc('month', at AT TIME ZONE 'UTC');
        lo TIMESTAMPTZ := month_start AT TIME ZONE 'UTC';
        hi TIMESTAMPTZ := (month_start + INTERVAL '1 month') AT TIME ZONE 'UTC';
        part TEXT := 'npc_memories_' || to_char(month_start, 'YYYY_MM');
    BEGIN
        IF to_regclass(part) IS NULL THEN
            BEGIN
                EXECUTE format(
                    'CREATE TABLE %I PARTITION OF npc_memories FOR VALUES FROM (%L) TO (%L)',
                    part, lo, hi);
            EXCEPTION WHEN duplicate_table THEN
                NULL;  -- another server instance made it first
            END;
        END IF;
        RETURN part;
    END
    $fn$
    """,
    """
    CREATE OR REPLACE FUNCTION ganggpt_ensure_npc_memory_partitions(months_ahead INTEGER)
    RETURNS SETOF TEXT LANGUAGE plpgsql AS $fn$
    BEGIN
        FOR i IN 0..months_ahead LOOP
            RETURN NEXT ganggpt_ensure_npc_memory_partition(
                date_trunc('month', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'
                + make_interval(months => i));
        END LOOP;
    END
    $fn$
    """,
    "SELECT ganggpt_ensure_npc_memory_partitions(2)",
)
