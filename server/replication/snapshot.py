"""Step 1 of replication — the full snapshot: every entity a viewer can see, as ENTER records.

Sent when a client joins, resumes, or has fallen too far behind for a delta to catch it up.
Records are cached per entity per tick by the world, so many clients joining at once share them.
"""

from __future__ import annotations

from protocol.state import encode_section
from server.world.world import World


def full_snapshot(world: World, view_cell: int) -> bytes:
    """ENTER section listing every entity a viewer centred on `view_cell` can see."""
    ids = world.entities_in(world.grid.view_cells(view_cell))
    return encode_section([world.enter_record(e) for e in ids])
