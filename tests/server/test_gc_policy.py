"""The tick loop's collector policy: a full collection, then freeze, on time or after a
wave of joins (real servers only: `settle_runtime` turns it on; here it is called by hand)."""

from __future__ import annotations

import gc
import time

from server import tick as tick_mod
from tests.server.conftest import Client, ServerFactory, open_client


async def test_joins_are_counted_and_a_wave_of_them_triggers_a_full_collection(
    start: ServerFactory, clients: list[Client]
) -> None:
    srv = await start(npc_count=0)
    st, tick = srv.state, srv.tick
    clients.append(await open_client(srv.url, "first"))
    assert st.joined_since_gc == 1
    try:
        tick.last_full_gc = time.monotonic()  # not due by time
        st.joined_since_gc = tick_mod.FULL_GC_JOINS - 1
        frozen = gc.get_freeze_count()
        tick.collect_garbage()
        assert gc.get_freeze_count() == frozen  # one join short: nothing frozen
        st.joined_since_gc += 1
        tick.collect_garbage()
        assert gc.get_freeze_count() > frozen and st.joined_since_gc == 0
        tick.last_full_gc = time.monotonic() - tick_mod.FULL_GC_SECONDS - 1  # due by time
        gc.collect()  # so the young generations are not what is measured
        tick.collect_garbage()
        assert tick.last_full_gc > time.monotonic() - 1
    finally:
        gc.unfreeze()  # the rest of the suite collects normally
