"""Mission lifecycle and idempotency keys for gameplay writes.

Why `applied_events`: a mission's completion (money, faction strengths, status) and a faction
shift (a member killed) are deltas, not idempotent by themselves; the write claims its key
here in the same transaction (primary key = the unique constraint), so a client repeating the
completion, or the outage journal replaying it after a crash, changes nothing the second time.
Why `mission_offers` beside `mission_assignments`: the seed's assignment has no "offered" or
"expired" state and no room for the objectives; the offer row carries the whole lifecycle
with its timestamps, the assignment stays what the rest of the code reads.
"""

VERSION = 4
NAME = "applied_events, mission_offers"
STATEMENTS = (
    """
    CREATE TABLE applied_events (
        event_id VARCHAR(200) PRIMARY KEY,
        kind VARCHAR(50) NOT NULL,
        created_at TIMESTAMPTZ NOT NULL
    )
    """,
    """
    CREATE TABLE mission_offers (
        mission_id UUID PRIMARY KEY REFERENCES missions(id) ON DELETE CASCADE,
        player_id UUID NOT NULL REFERENCES players(id) ON DELETE CASCADE,
        state VARCHAR(20) NOT NULL
            CHECK (state IN ('offered', 'accepted', 'completed', 'failed', 'expired')),
        spec JSONB NOT NULL,
        giver_faction VARCHAR(100),
        offered_at TIMESTAMPTZ NOT NULL,
        expires_at TIMESTAMPTZ,
        accepted_at TIMESTAMPTZ,
        deadline TIMESTAMPTZ,
        ended_at TIMESTAMPTZ,
        reason VARCHAR(100)
    )
    """,
    "CREATE INDEX mission_offers_player_idx ON mission_offers (player_id, offered_at)",
    "CREATE INDEX mission_offers_open_idx ON mission_offers (offered_at)"
    " WHERE state IN ('offered', 'accepted')",
)
